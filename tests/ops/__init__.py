"""Tests of the operational pieces: metrics, access control, fmzokx-call, JSON logs."""
