"""The on-device langdb store: versions side by side, one active per language, atomic
activate and revert, and predictors that move to a newly activated version between two calls.

Layout under the store's root directory::

    root/
      .lock                       writers hold an exclusive flock on it
      <language>/                 the BCP 47 tag, in lower case: en, pt-br, und
        <data_version>.langdb     the installed versions: complete, verified, never modified
        active.json               the pointer: the active version, its sha256 and size, and
                                  the stack of previously active versions (for revert)
        .tmp-*                    a writer's temporary files (readers never look at them)

How it stays consistent when a writer is killed, the disk fills up or several processes
share the store:

- A file appears under a real name only by renaming a complete, fsynced temporary file of
  the same directory; the directory is fsynced after. Nothing is ever written in place.
- Writers (``install``, ``activate``, ``revert``, ``gc``) hold an exclusive ``fcntl.flock``
  on ``root/.lock``, and the first thing each does is delete the temporaries a killed writer
  left. Readers take no store lock: the pointer they read is always complete (it is
  replaced by rename) and the file it names is never modified.
- A predictor holds a shared flock on every langdb it has open; ``gc`` removes a file only
  while it holds an exclusive lock on it, so it never removes one a predictor (in any
  process) has open.

Modules: ``pointer`` (the pointer's format, and the names and versions it accepts),
``writer`` (``Store``: install, activate, revert, gc, verify, the writers' lock) and
``predictor`` (``StorePredictor`` and ``open_store``: the handles on open versions, and
switching between them).
"""

from keyglide.store.pointer import (
    MAX_REVERTS,
    POINTER,
    POINTER_FORMAT,
    Activation,
    canonical_language,
    check_version,
    version_key,
)
from keyglide.store.predictor import StorePredictor, open_store
from keyglide.store.writer import (
    DEFAULT_KEEP,
    LOCK,
    SUFFIX,
    TEMP_PREFIX,
    Entry,
    GcResult,
    Installed,
    Store,
)

__all__ = [
    "DEFAULT_KEEP",
    "LOCK",
    "MAX_REVERTS",
    "POINTER",
    "POINTER_FORMAT",
    "SUFFIX",
    "TEMP_PREFIX",
    "Activation",
    "Entry",
    "GcResult",
    "Installed",
    "Store",
    "StorePredictor",
    "canonical_language",
    "check_version",
    "open_store",
    "version_key",
]
