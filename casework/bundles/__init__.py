"""Prosecution evidence bundles: built from the case in one action, as one PDF a magistrates' court accepts.

`data` loads the case once; `sections` turns it into the bundle's documents in order; `render` lays out the parts
rendered from case data (WeasyPrint, templates in bundle_templates/); `assemble` merges them with the stored letters
and uploads (pypdf), stamps "Page N of M" (`stamp`), adds the hyperlinked index and bookmarks; `redaction` checks
the finished text for confidential addresses; `versions` is the service that builds, freezes and compares
versions; `uploads` checks and stores the documents users attach to a case.
"""
