"""A seeded, deterministic sample quarter of supply-chain data, with planted discrepancies.

The scenario: an Indian manufacturer (Deccan Pharmaceuticals) makes pseudoephedrine
tablet packs, paracetamol packs and bulk ephedrine hydrochloride in 2026-Q1 and ships
them by air and sea to importers in the US, Kenya (a licence-number party) and Germany;
a second Indian firm makes bulk pseudoephedrine for the home market. The files follow
the input contract: ``products.csv``, ``batches.csv``, ``consignments.csv``,
``authorisations.xlsx``, ``filings.xlsx``, ``estimates.csv`` and ``events.jsonl``
(EPCIS 2.0, one event per line).

Without plants no rule of the catalogue has anything to report. Each planted rule id
makes a minimal change that exactly that rule reports, on the subject listed in
:attr:`Sample.planted`.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     sample = generate_quarter(Path(tmp), packs_per_lot=120, plant=["over-export"])
    ...     [p.name for p in sample.files][:3], [f.rule for f in sample.planted]
    (['products.csv', 'batches.csv', 'consignments.csv'], ['over-export'])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .bench import write_event_lines
from .files import write_all
from .ledger import derive_filings
from .model import PlantedFinding, Sample
from .plants import RECORD_PLANTS, RETURN_PLANTS
from .scenario import build

__all__ = [
    "DEMO_PLANTS",
    "PLANTABLE",
    "PlantedFinding",
    "Sample",
    "generate_quarter",
    "write_event_lines",
]

PLANTABLE: tuple[str, ...] = (
    "over-export",
    "over-commission",
    "unknown-lot",
    "batch-conflict",
    "mirror-quantity-gap",
    "export-without-import",
    "import-without-export",
    "mirror-party-mismatch",
    "late-arrival",
    "serial-not-commissioned",
    "serial-duplicate",
    "serial-after-decommission",
    "serial-lot-mismatch",
    "serial-shipped-twice",
    "serial-count-mismatch",
    "shipped-not-received",
    "received-not-shipped",
    "expired-shipped",
    "filing-mismatch",
    "stock-imbalance",
    "missing-filing",
    "authorisation-missing",
    "authorisation-mismatch",
    "authorisation-expired",
    "authorisation-exceeded",
    "estimate-exceeded",
)
"""Rule ids :func:`generate_quarter` can plant, in catalogue order."""

DEMO_PLANTS: tuple[str, ...] = (
    "over-export",
    "mirror-quantity-gap",
    "export-without-import",
    "serial-shipped-twice",
    "received-not-shipped",
    "stock-imbalance",
    "authorisation-exceeded",
)
"""The handful of discrepancies ``tracecheck demo`` plants."""


def generate_quarter(
    folder: Path,
    *,
    seed: int = 0,
    packs_per_lot: int = 1200,
    lots_per_product: int = 2,
    plant: Sequence[str] = (),
) -> Sample:
    """Write a realistic, internally consistent quarter of data into ``folder``.

    Args:
        folder: the folder to write into (created if missing; files are replaced).
        seed: drives serial numbers, document numbers and identifier spellings; the same
            arguments always give byte-identical files.
        packs_per_lot: packs made per lot of each serialised product (at least 120).
        lots_per_product: lots made of each product in the quarter (1 to 50;
            ``serial-lot-mismatch`` needs at least 2).
        plant: rule ids from :data:`PLANTABLE` to plant a discrepancy for.

    Returns:
        The folder, the files written and the planted findings (in catalogue order).

    Raises:
        ValueError: for an unknown rule id or out-of-range sizes.
    """
    unknown = sorted(set(plant) - set(PLANTABLE))
    if unknown:
        raise ValueError(f"cannot plant {', '.join(unknown)}; plantable: {', '.join(PLANTABLE)}")
    if packs_per_lot < 120:
        raise ValueError("packs_per_lot must be at least 120")
    if not 1 <= lots_per_product <= 50:
        raise ValueError("lots_per_product must be between 1 and 50")
    if "serial-lot-mismatch" in plant and lots_per_product < 2:
        raise ValueError("serial-lot-mismatch needs lots_per_product >= 2")
    scenario = build(seed, packs_per_lot, lots_per_product)
    wanted = set(plant)
    planted = [fn(scenario) for rule, fn in RECORD_PLANTS.items() if rule in wanted]
    derive_filings(scenario)
    planted += [fn(scenario) for rule, fn in RETURN_PLANTS.items() if rule in wanted]
    planted.sort(key=lambda finding: PLANTABLE.index(finding.rule))
    files = write_all(scenario, Path(folder))
    return Sample(folder=Path(folder), files=files, planted=tuple(planted))
