"""Training for netc: data on the device, the article's recipe, run directories.

`engine` (Trainer, prepare_data, RunResult), `augment`, `schedule`, `report`,
`checkpoint` (atomic save/load) and `session` (N runs into a resumable run directory).
"""
