"""The codes of the tabular declarations (CSV, JSON Lines, Parquet, xlsx), in the order
the table of checks lists them: rejects, then notes."""

from __future__ import annotations

from traceability.load.outcomes.code import Code, note, reject

_UNKNOWN_VALUE = "What the record says cannot be told without it."

TABLE_CODES: tuple[Code, ...] = (
    # -- tables: rejects ------------------------------------------------------------------
    reject(
        "missing-value",
        "tables",
        "A required column is empty.",
        _UNKNOWN_VALUE,
        "{field}: a value is required",
    ),
    reject(
        "missing-one-of",
        "tables",
        "Neither of two columns of which one is required is given (gtin or substance_base).",
        "What the line is about is unknown.",
        "{field}: one of these is required",
    ),
    reject(
        "bad-decimal",
        "tables",
        "A quantity is not a decimal number.",
        "How much is declared is unknown.",
        "{field}: {value} is not a decimal number",
    ),
    reject(
        "decimal-out-of-range",
        "all",
        "A quantity has more than 26 digits before the point (1E+30), however it is written.",
        "It cannot be stored exactly, and a rounded value would be a false difference.",
        "{field}: {value} {reason}",
    ),
    reject(
        "decimal-precision",
        "all",
        "A quantity has more than 12 decimal places, however it is written (0.1234567890123, "
        "1.5e-13, 1e-400); trailing zeros do not count.",
        "It cannot be stored without rounding, and a rounded value (or 0 for 1e-400) would "
        "be a false difference.",
        "{field}: {value} {reason}",
    ),
    reject(
        "negative-quantity",
        "tables",
        "A quantity is negative.",
        "A declaration of a negative movement has no agreed meaning; returns are their own "
        "records.",
        "{field}: {value} is negative; quantities cannot be negative",
    ),
    reject(
        "bad-date",
        "tables",
        "A date is not written YYYY-MM-DD.",
        "10/02/2026 is the 10th of February or the 2nd of October: the date is unknown.",
        "{field}: {value} is not a date written YYYY-MM-DD",
    ),
    reject(
        "impossible-date",
        "tables",
        "A date that does not exist (2026-02-30).",
        _UNKNOWN_VALUE,
        "{field}: {value} is not a real calendar date",
    ),
    reject(
        "bad-period",
        "tables",
        "A period is not a quarter (2026-Q1) or a year.",
        "Which period the return covers is unknown.",
        "{field}: {value} is not a period (2026-Q1, or 2026 for a year)",
    ),
    reject(
        "bad-year",
        "tables",
        "A year is not a four-digit year.",
        _UNKNOWN_VALUE,
        "{field}: {value} is not a year",
    ),
    reject(
        "bad-country",
        "tables",
        "A country is not an ISO 3166-1 alpha-2 code.",
        "USA could be mapped, but a three-letter or misspelt code is as often another "
        "country; the mirror checks pair countries exactly.",
        "{field}: {value} is not an ISO 3166-1 alpha-2 country code",
    ),
    reject(
        "not-allowed",
        "tables",
        "A value outside the column's list (a direction, a flow, a unit, a kind).",
        "A unit such as 'boxes' or a flow such as 'imported' has no defined meaning here.",
        "{field}: {value} is not allowed",
    ),
    reject(
        "not-a-mass-unit",
        "tables",
        "A unit that is not a mass where a mass is required (estimates, contents).",
        "Mass and volume never convert into each other.",
        "{field}: {value} is not a mass unit (KGM, GRM, MGM or kg, g, mg)",
    ),
    reject(
        "bad-gtin",
        "tables",
        "A GTIN that is not 8, 12, 13 or 14 digits.",
        "Which product the line is about is unknown.",
        "{field}: {value} is not a GTIN (8, 12, 13 or 14 digits)",
    ),
    reject(
        "bad-gln",
        "tables",
        "A GLN that is not 13 digits.",
        "Which party or site is meant is unknown.",
        "{field}: {value} is not a GLN (13 digits)",
    ),
    reject(
        "bad-check-digit",
        "tables",
        "A GTIN or GLN whose check digit is wrong.",
        "A typing error: the number is not the product or party meant, and guessing would "
        "attribute the record to someone else.",
        "{field}: {value} has a wrong check digit (with this payload it would end in {expected})",
    ),
    reject(
        "bad-field-count",
        "tables",
        "A CSV line with more or fewer fields than its header.",
        "Which value belongs to which column is unknown.",
        "{count} fields where the header has {width}",
        {
            "beyond_header": "cells beyond the header's last column",
        },
    ),
    reject(
        "bad-csv",
        "tables",
        "A CSV line that cannot be split into fields (an unclosed quote).",
        "Which value belongs to which column is unknown.",
        "cannot split into fields: {detail}",
    ),
    reject(
        "line-too-long",
        "all",
        "A line longer than the reader's limit.",
        "A line that size is not a record of this contract; reading it would exhaust memory.",
        "the line is longer than {most:,} bytes ({hint})",
    ),
    reject(
        "field-too-large",
        "tables",
        "A field larger than the reader's limit.",
        "As for line-too-long.",
        "{name}: longer than {most:,} characters ({hint})",
        {
            "csv": "a field is longer than {most:,} characters ({hint})",
        },
    ),
    reject(
        "duplicate-key-conflict",
        "all",
        "A JSON object holds the same key twice with different values.",
        "Which of the two values the sender meant cannot be told.",
        "{name}: given more than once with different values",
        {
            "event": (
                "{where}: given twice with different values; which one was meant cannot be told"
            ),
        },
    ),
    reject(
        "formula-without-value",
        "tables",
        "An .xlsx cell holds a formula but no value computed by the spreadsheet that saved it.",
        "tracecheck does not evaluate formulas, so the cell's value is unknown.",
        "{name}: a formula saved without its value; tracecheck does not compute formulas "
        "(save the workbook in a spreadsheet, or write the value)",
    ),
    # -- tables: notes --------------------------------------------------------------------
    note(
        "event-id-given-twice",
        "events",
        "An event gives its eventID twice, with different values; the first is kept.",
        "What the event says is clear, only which id names it is not (a sample of the "
        "standard does this); a copy sent under the other id would count twice, so it is "
        "noted.",
        "eventID: given twice with different values; the first is kept as the event's id "
        "(a copy of the event sent under the other id would count twice)",
    ),
    note(
        "duplicate-key",
        "all",
        "A JSON object holds the same key twice with the same value; read once.",
        "The value is the same either way.",
        "{name}: given more than once with the same value; read once",
        {
            "event": "{where}: given twice with the same value; read once",
        },
    ),
    note(
        "formula-cell",
        "tables",
        "An .xlsx cell holds a formula; the value the sender's spreadsheet computed and saved "
        "with it is read.",
        "That saved value is what the sender saw and sent; tracecheck does not recompute it.",
        "{names}: formula cell(s); the value the sender's spreadsheet saved is read",
    ),
    note(
        "hidden-sheet",
        "tables",
        "An .xlsx workbook has hidden sheets; the first visible sheet (or the visible sheet "
        "named after the kind) is read and each hidden one is skipped, with this note.",
        "A sender reads and checks the sheets that can be seen; a hidden sheet is not what "
        "was declared.",
        "the sheet {sheet} is {state}: not read",
    ),
    note(
        "extra-columns",
        "tables",
        "Columns that are not in the input contract; kept as received.",
        "The contract allows them; nothing is dropped.",
        "extra columns kept: {columns} (not in the table of {kind})",
    ),
)
