"""Where snapshots come from: each run source publishes `Snapshot`s into a mailbox and takes
commands, so the window cannot tell one from another.

The first source is the in-process trainer, `gpuviz_app.core.session.TrainingSession`; a
user's script run on the training thread, a script attached from another process and a
stored run are sources of the same kind (see `RunSource`). Torch-free, Qt-free, VisPy-free.
"""

from gpuviz_app.sources.base import RunSource

__all__ = ["RunSource"]
