"""Tests of the status page: the history, the snapshot, the HTML, and Chromium rendering it."""
