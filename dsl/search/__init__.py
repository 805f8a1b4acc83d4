"""Architecture search for netc: `netc search` (a grid of runs into `results.csv`) and `netc report`.

* `grid`: search-space files x epochs x seeds -> `RunSpec`s, each with a stable resume key.
* `results`: `results.csv`, rewritten atomically (temp file + fsync + os.replace) per finished run.
* `runner`: executes runs through `dsl.train.engine` in-process, in N worker processes (one per
  device) or (`ray_backend`) as Ray tasks; one `Trainer` and one on-device dataset per process.
* `report`: the recap table and the article's time-vs-accuracy plot, from search or train dirs.
"""
