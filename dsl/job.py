"""A job: a network and how it is trained, kept as two things.

The graph (`dsl.core.graph.Graph`) is the network alone, what every consumer reads; the recipe
(`dsl.settings.TrainSettings`) is how `netc train` and `netc search` train it. A `.net` file gives
both (its network and its `train { }` section); the front end pairs them here, with the source files
they were read from, for the command line and the trainer:

    job = dsl.load_job("nets/residual_l1_l3.net")
    job.graph, job.settings, job.sources
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dsl.core.graph import Graph
from dsl.settings import TrainSettings


@dataclass(frozen=True)
class Job:
    """A network, its training recipe and the .net files they came from."""

    graph: Graph
    settings: TrainSettings
    sources: Mapping[str, str] = field(default_factory=dict)  # every file read (as the user names it) -> its text

    @property
    def name(self) -> str:
        """The network's name (its file's, or its variant's)."""
        return self.graph.name

    def with_settings(self, settings: TrainSettings) -> Job:
        """The same network with another recipe (flags applied, say)."""
        return Job(self.graph, settings, self.sources)
