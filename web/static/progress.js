// Pages that show work going on in the background (a print run's PDF, a court bundle) mark the part that changes
// with data-cw-progress="SECONDS". Every SECONDS this script fetches the page again and puts the new text of that
// part in place (its region is announced politely to screen readers); when the work has finished, the page no
// longer has the mark and is loaded whole. Without JavaScript the page offers a link to check again instead.
(function () {
  "use strict";
  var region = document.querySelector("[data-cw-progress]");
  if (!region || !window.fetch || !window.DOMParser) { return; }
  var seconds = Math.max(2, parseInt(region.getAttribute("data-cw-progress"), 10) || 3);
  function later(wait) { window.setTimeout(check, wait * 1000); }
  function check() {
    window.fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-cw-progress]");
        if (!fresh) { window.location.reload(); return; }
        region.replaceChildren.apply(region, Array.prototype.slice.call(fresh.childNodes));
        later(seconds);
      })
      .catch(function () { later(seconds * 5); });
  }
  later(seconds);
}());
