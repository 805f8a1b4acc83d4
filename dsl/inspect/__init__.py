"""Showing a network to a person: the per-layer summary table (`summary`), the op reference
(`opdoc`), notebook display (`notebook`) and the live diagram of `netc watch` (`watch`)."""
