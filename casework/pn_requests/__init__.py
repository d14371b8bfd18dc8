"""Penalty notice requests from schools, the high-volume lane for term-time holidays and lateness.

`conduct` reads the authority's code of conduct and checks a pupil against it; `submit` takes a school's request (form
or CSV) into the queue; `decide` is the officers' queue, review, accept (through the pathway's services), return and
refuse; `outcomes` is what the school sees; `figures` the counts per school and month and the annual Parental
Responsibility Measures return.
"""
