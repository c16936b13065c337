"""The codes of the event pipeline (and of what the tables share with it), in the order
the table of checks lists them: rejects, then notes."""

from __future__ import annotations

from traceability.load.outcomes.code import Code, note, reject

EVENT_CODES: tuple[Code, ...] = (
    # -- events: rejects ------------------------------------------------------------------
    reject(
        "bad-json",
        "events",
        "The line or event is not valid JSON.",
        "Nothing of it can be read.",
        "not valid JSON",
        {
            "decode": "not valid JSON: {detail}",
            "not_an_object": "not a JSON object",
            "too_deep": "not read: nested too deeply to be read",
            "huge_number": "not valid JSON: a number is too long or too large to read",
            "lone_surrogate": (
                "not valid JSON: a \\u escape is half of a surrogate pair, not a character"
            ),
        },
    ),
    reject(
        "not-an-object",
        "events",
        "The line is JSON, but not an object.",
        "An event is an object of fields; anything else holds no event.",
        "not a JSON object",
    ),
    reject(
        "bad-shape",
        "events",
        "A field the rules read does not have the shape EPCIS gives it (a text where a "
        "list belongs).",
        "Which objects, parties or transactions the event names cannot be told.",
        "a field does not have the shape EPCIS gives it",
        {
            "schema": "{where}: {detail}",
        },
    ),
    reject(
        "bad-event-type",
        "events",
        "The type is not one of the five EPCIS event types.",
        "What kind of event it is (and so how to read the rest) is unknown.",
        "type: not one of {types}",
    ),
    reject(
        "bad-event-time",
        "events",
        "eventTime is missing or not a date-time with an offset.",
        "When it happened, and so its period and its place in a serial's history, is unknown "
        "(a time without an offset is any of 26 hours).",
        "eventTime: missing, or not a date-time with an offset (2026-03-31T23:30:00-05:00)",
    ),
    reject(
        "bad-time-zone-offset",
        "events",
        "eventTimeZoneOffset is missing or not written +HH:MM.",
        "The event's local date, and so its period, is unknown.",
        "eventTimeZoneOffset: missing, or not written +HH:MM / -HH:MM",
    ),
    reject(
        "bad-action",
        "events",
        "action is missing, or not ADD, OBSERVE or DELETE, where the event type needs one.",
        "Whether objects were added, seen or removed (packed or unpacked) is unknown.",
        "action: missing, or not one of ADD, OBSERVE, DELETE",
    ),
    reject(
        "bad-error-declaration",
        "events",
        "errorDeclaration.declarationTime is not a date-time.",
        "When the correction was made, and so which version stands, is unknown.",
        "errorDeclaration.declarationTime: not a date-time",
    ),
    reject(
        "unknown-vocabulary",
        "events",
        "A business step, disposition, transaction, source or destination type is a word "
        "that no vocabulary defines (neither a CBV term in any spelling nor a URI).",
        "What happened (a shipment? a receipt?) or who a party is cannot be told; a guess "
        "would make or hide a finding.",
        "{where}: {value!r} is not a CBV {vocabulary} (nor the URI of another vocabulary)",
    ),
    reject(
        "no-objects",
        "events",
        "An ObjectEvent names no objects (no epcList, no quantityList, no sensor data).",
        "An event about nothing states no fact about any serial or lot.",
        "epcList: an ObjectEvent names its objects in epcList or quantityList (or carries "
        "sensor data at a readPoint)",
    ),
    reject(
        "bad-epc",
        "events",
        "An identifier is not a valid GS1 key (check digit, length or form). Inside a list "
        "(field epcList[3]) only that identifier is rejected and the event loads with the "
        "rest; the event itself is rejected when its parentID is invalid or no valid "
        "object is left.",
        "A serial or SSCC with a wrong check digit is not the one on the pack: counting it "
        "would invent a serial, guessing would hide a real one.",
        "an EPC is not a valid GS1 identifier (check digit, length or form)",
        {
            "named": "{value} is not a valid GS1 identifier (check digit, length or form)",
            "member": (
                "{field}: {value} is not a valid GS1 identifier (check digit, length or "
                "form); the event loads without it"
            ),
        },
    ),
    reject(
        "bad-epc-class",
        "events",
        "A quantity element's epcClass is not a valid GS1 class identifier: that element "
        "is rejected (field quantityList[0].epcClass); the event too when nothing valid is "
        "left.",
        "Which product and lot the quantity is of cannot be told.",
        "an epcClass is not a valid GS1 class identifier",
        {
            "member": (
                "{where}.epcClass: {value} is not a valid GS1 class identifier; the event "
                "loads without this element"
            ),
        },
    ),
    reject(
        "bad-quantity",
        "events",
        "A quantity is not a non-negative number.",
        "How much the event is about cannot be told.",
        "a quantity is not a non-negative number",
    ),
    reject(
        "bad-certification-info",
        "events",
        "certificationInfo is not a URI or a list of URIs.",
        "The event refers to a certificate that it does not name.",
        "certificationInfo: not a URI, nor a list of URIs",
    ),
    reject(
        "no-context",
        "events",
        "A JSON-LD document declares no @context.",
        "Without a context the field names of a JSON-LD document have no defined meaning "
        "(a line of JSON Lines, an event on its own, needs none).",
        "@context: the document declares no JSON-LD context, so its field names cannot be "
        "read as EPCIS 2.0",
    ),
    reject(
        "xml-entity",
        "events",
        "An XML event holds an entity reference.",
        "Entities are never expanded, so the text the sender meant is not there.",
        "{where}: entity references are not read",
    ),
    reject(
        "bad-event",
        "events",
        "An event without an eventID whose EPCIS event hash cannot be computed.",
        "Without an id or a hash, a repeat of it cannot be told from a second event.",
        "cannot compute the event hash: {error}",
    ),
    reject(
        "invisible-character",
        "all",
        "An identifier (eventID, EPC, epcClass, parentID, read point, location, lot, "
        "business transaction, party, GTIN, GLN; in declarations every text column but "
        "a product's name) holds a character that does not show: a "
        "control character, a zero-width space or joiner, a byte-order mark, or a "
        "bidirectional override or isolate (U+200B-U+200D, U+2060, U+FEFF, U+202A-U+202E, "
        "U+2066-U+2069, C0 and C1 controls). The field is named.",
        "L2401 followed by a zero-width space looks like L2401 and is not it: it would "
        "match or miss another record without anyone seeing why.",
        "{field}: {value} holds characters that do not show ({chars}); it would match or "
        "miss an identifier that looks the same",
        {
            "event": (
                "an identifier holds a character that does not show (a control character, "
                "a zero-width space or joiner, or a bidirectional mark)"
            ),
            "identifier": (
                "{where}: {value} holds {chars}, which does not show: it would match or "
                "miss another identifier that looks the same"
            ),
            "epc_class": (
                "{where}.epcClass: {value} holds {chars}, which does not show: it would "
                "match or miss another identifier that looks the same"
            ),
        },
    ),
    # -- events: notes --------------------------------------------------------------------
    note(
        "ilmd-bare-name",
        "events",
        "ILMD lotNumber or itemExpirationDate written without the cbvmda: prefix; read as "
        "the CBV master-data field.",
        "The input contract names these fields bare; the meaning is the same.",
        "ilmd.{name}: read as {standard} (the CBV master-data name, written without its prefix)",
    ),
    note(
        "unknown-field",
        "events",
        "A field that is not an EPCIS field and has no namespace of its own; kept in the "
        "stored event as received.",
        "Nothing the event says depends on it; it is kept, not lost.",
        "{where}: not an EPCIS field, and not namespaced (a user field needs a prefix "
        "declared in @context); kept in the stored event",
        {
            "xml_list": (
                "{where}: not an EPCIS field (line {line}), skipped; a list holds only its "
                "own members"
            ),
            "xml": (
                "{where}: not an EPCIS field (line {line}), kept as given; a user field "
                "should have a namespace of its own"
            ),
        },
    ),
    note(
        "xml-unknown-field",
        "events",
        "An element without a namespace inside a 1.2 extension; kept as given.",
        "The 1.2 schema admits such elements there; nothing the event says depends on it.",
        "{where}: not an EPCIS field (line {line}), kept as given; a user field should "
        "have a namespace of its own",
    ),
    note(
        "xml-element-order",
        "events",
        "XML elements of an event out of the sequence of the EPCIS XSD; read all the same.",
        "An element means the same wherever it stands in its event.",
        "{name} (line {line}) comes after {previous}; the EPCIS 2.0 XML schema puts it "
        "before (read all the same)",
    ),
    note(
        "epcis-version",
        "events",
        "An EPCIS 2.0 field in a 1.2 document, or a field given outside the extension "
        "wrapper a 1.2 document puts it in; read as 2.0 writes it.",
        "The field is unambiguous in either version.",
        "{name}: an EPCIS 2.0 field in a 1.2 document",
        {
            "outside_wrapper": (
                "{name} (line {line}): given as EPCIS 2.0 writes it, outside the {wrapper} "
                "that a 1.2 document puts it in (read all the same)"
            ),
        },
    ),
    note(
        "vocabulary-spelling",
        "events",
        "A CBV term in another case, with spaces around it, or in a spelling its binding "
        "does not use (a bare word in XML); read as the term.",
        "The term is recognised whatever its spelling; every form is stored the same.",
        "{where}: {value!r} read as the CBV term {term!r} (written in another case, or "
        "with spaces around it)",
        {
            "xml": (
                "{where}: {value!r} read as the CBV term {term!r} (XML writes a standard "
                "term as its URN or Web URI, in its own case, without spaces around it)"
            ),
        },
    ),
    note(
        "cbv-urn-in-json",
        "events",
        "A CBV 1.x URN where EPCIS 2.0 JSON writes the bare word; read as the term.",
        "The URN names the same term.",
        "{where}: {value!r} is a CBV 1.x URN; EPCIS 2.0 JSON writes the bare word",
    ),
    note(
        "time-without-seconds",
        "events",
        "A time written without seconds (2026-01-10T14:00+05:30); read as second 0.",
        "The minute is given; the seconds change no period and no order of events that a "
        "whole minute does not.",
        "{where}: {value!r} has no seconds; read as second 0 of that minute",
    ),
    note(
        "time-without-offset",
        "events",
        "A recordTime or errorDeclaration.declarationTime without an offset from UTC; read "
        "as UTC. (An eventTime without one is rejected: bad-event-time.)",
        "These times only order the records and corrections of one event, which an error "
        "of hours does not change; the event's own time decides its period.",
        "{where}: {value!r} has no offset from UTC; read as UTC",
    ),
    note(
        "unit-synonym",
        "events",
        "A unit written as a common spelling rather than its UN/ECE Rec 20 code (KG, G, "
        "MG, L, LB); stored as the code (KGM, GRM, MGM, LTR, LBR).",
        "The spelling names one unit without doubt.",
        "{where}.uom: {value!r} read as the UN/ECE Rec 20 unit {unit}",
    ),
    note(
        "unknown-unit",
        "events",
        "A unit tracecheck does not know; the quantity is kept in it as given.",
        "The quantity is a fact; no rule converts it, and a rule that would have compared "
        "it says so in its coverage instead of comparing a wrong number.",
        "{where}.uom: {value!r} is not a unit tracecheck knows; the quantity is kept in it "
        "as given, and no rule converts it",
        {
            "rejected": "a uom is not a known UN/ECE Recommendation 20 unit",
        },
    ),
    note(
        "ilmd-without-add",
        "events",
        "ILMD on an event whose action is not ADD.",
        "Lot master data belongs to an object's beginning of life; the lot is read all the same.",
        "ilmd: instance/lot master data belongs to an ADD event (the object's beginning of life)",
    ),
    note(
        "xml-stray-text",
        "events",
        "Text among the elements of an XML wrapper; ignored.",
        "It belongs to no field.",
        "{where}: text {text!r} among elements",
    ),
    note(
        "dtd-default-ignored",
        "events",
        "The DOCTYPE of an XML document declares a default attribute value (an ATTLIST); "
        "it is not applied, the document is read as written.",
        "A value nobody wrote in the document is not part of what was sent; an EPCIS "
        "document is described by its XSD, never by a DTD.",
        "the DOCTYPE declares {value!r} as the default of attribute {name!r} of "
        "<{element}>; it is not applied, the document is read as written",
    ),
    note(
        "xml-repeated-field",
        "events",
        "A single-valued field given more than once; the last is read.",
        "The event's meaning is clear from the value read; the repeat is noted.",
        "{name}: given more than once",
    ),
    note(
        "xsd",
        "events",
        "A deviation from the official EPCIS XSD (only when its folder is given).",
        "A schema deviation is a warning for the sender; what is rejected never depends on "
        "whether the schemas are given.",
        "line {line}: {detail} (EPCIS {version} XSD)",
    ),
    note(
        "schema",
        "events",
        "A deviation from the official EPCIS 2.0.1 JSON Schema (only when it is given).",
        "As for xsd.",
        "{where}: {detail} (EPCIS 2.0.1 schema)",
    ),
    note(
        "same-event-other-form",
        "events",
        "An event stored before under the same id, written differently but saying the same.",
        "The same event in another serialisation counts once.",
        "the same event as the one stored from {first}, written differently",
    ),
    note(
        "correction",
        "events",
        "An event stored before under the same id, one of the two carrying an errorDeclaration.",
        "A correction voids the event; both are kept.",
        "this event {which} the event stored from {first}; reconciliation leaves it out",
    ),
    note(
        "conflict",
        "events",
        "An event stored before under the same id with other content; both are kept.",
        "Neither can be dropped without deciding which is true; the first stays in use and "
        "the conflict is counted.",
        "same event ID as the event stored from {first}, other content in: {fields}; the "
        "first stored is used",
    ),
    note(
        "master-data-skipped",
        "files",
        "An EPCIS master-data document; skipped.",
        "It holds no events.",
        "an EPCIS master-data document: skipped",
    ),
    note(
        "capture-job-skipped",
        "files",
        "An EPCIS capture-job report; skipped.",
        "It holds no events.",
        "an EPCIS capture-job report: no events",
    ),
    note(
        "header-master-data-skipped",
        "files",
        "The master data in an EPCIS document's header is not read.",
        "The events are read; the vocabularies describe them and change none of them.",
        "the header's master data ({vocabularies} vocabularies) is not read",
    ),
    note(
        "no-events",
        "files",
        "The document holds no events.",
        "There is nothing to load.",
        "the document holds no events",
    ),
)
