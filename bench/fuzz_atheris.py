"""Coverage-guided fuzzing of the EPCIS document readers with atheris (libFuzzer).

The readers alone, without a database, so that libFuzzer's coverage feedback gets many
inputs a second: each input is written to a file and read as an EPCIS JSON or XML
document (told apart by its first character, as the loader does), every event converted
and checked as the loader would,
and then dumped as the JSON text the event pipeline stages. A :class:`TracecheckError` is
a clear refusal; any other exception is a crash, which libFuzzer saves as
``crash-<sha1>`` in the working directory.

atheris is not a dependency of tracecheck; install it into the virtual environment first:

    .venv/bin/pip install atheris
    .venv/bin/python bench/fuzz_atheris.py -runs=100000 fixtures/hostile/seeds
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from traceability.errors import TracecheckError
    from traceability.load.epcis.check import check_event
    from traceability.load.epcis.jsonl import dump_event
    from traceability.load.epcis.read_documents import read_document

_FOLDER = Path(tempfile.mkdtemp(prefix="tracecheck-atheris-"))


def one(data: bytes) -> None:
    """Read one input as an EPCIS document; anything but a clear refusal is a crash."""
    path = _FOLDER / "input.json"
    path.write_bytes(data)
    try:
        document = read_document(path)
        for item in document.items:
            check_event(item, document, from_json=item.line is None)
            dump_event(item.event)
    except TracecheckError:
        pass
    except RecursionError:
        pass  # nesting beyond Python's reach: the loader refuses such a file as a whole


def main() -> None:
    """Run libFuzzer with the arguments given (``-runs=N``, corpus folders, ...)."""
    atheris.Setup(sys.argv, one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
