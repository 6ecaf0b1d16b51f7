"""The data dictionary: the one definition of every raw and processed table of the study.

Columns, types, allowed labels (with the variants survey platforms export), ranges, missing-value
codes, descriptions and the tangible/intangible tag of each survey item are written here once. The
simulator, the cleaning rules, the pandera validation and docs/data-dictionary.md
(``issp_research.datadoc``) all read them from here, so a change of label or range is one edit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Survey codes that are not scores (STUDY.md): -99 not answered, 6 "don't know".
NOT_ANSWERED = -99
DONT_KNOW = 6
LIKERT_MIN, LIKERT_MAX = 1, 5
MISSING_CODES = {NOT_ANSWERED: "not answered", DONT_KNOW: "don't know (not a score)"}
#: Submission times as the survey platform's versions export them; all are read as UTC.
DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%d/%m/%Y %H:%M")


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "id", "text", "free_text", "label", "int", "float", "bool", "datetime", "likert"
    description: str
    labels: tuple[str, ...] = ()
    #: Raw spellings that mean each label, compared after trimming, lower-casing and collapsing
    #: runs of spaces (so "INDEPENDENT" and "Independent  school" match too).
    variants: dict[str, tuple[str, ...]] = field(default_factory=dict)
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False
    #: A direct identifier: never leaves data/raw (STUDY.md, ethics).
    identifier: bool = False
    #: Codes that stand for a missing answer rather than a value, with their meaning.
    missing_codes: dict[int, str] = field(default_factory=dict)
    #: For survey items: benefit or cost, tangible or not.
    scale: str | None = None
    tangible: bool | None = None

    def spellings(self) -> dict[str, str]:
        """Every accepted spelling of a label, in :func:`normal_spelling` form, with the label it means."""
        accepted = {label: label for label in self.labels}
        for label, variants in self.variants.items():
            accepted.update({normal_spelling(variant): label for variant in variants})
        return accepted


def normal_spelling(text: str) -> str:
    """A label as compared: trimmed, lower-cased, runs of spaces collapsed."""
    return " ".join(text.lower().split())


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    key: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    def column(self, name: str) -> Column:
        return next(column for column in self.columns if column.name == name)


def _variants(**spellings: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return dict(spellings)


SECTORS = ("independent", "state")
STATE_TYPES = ("maintained", "academy", "free")
PHASES = ("primary", "secondary", "all_through")
ROLES = ("senior_leader", "coordinator", "teacher", "governor")
MODELS = (
    "academic_enrichment",
    "sport",
    "music_performing_arts",
    "saturday_school",
    "joint_professional_development",
    "sharing_facilities",
    "university_access_careers",
    "governance_sponsorship",
)
FORMALITY = ("informal", "formal")
FUNDING = ("self", "central", "trust")
REGIONS = (
    "north_east", "north_west", "yorkshire_humber", "east_midlands", "west_midlands",
    "east_of_england", "london", "south_east", "south_west",
)
CONSENT = ("yes", "no")

SECTOR_VARIANTS = _variants(
    independent=("Independent", "indep.", "INDEPENDENT", "Independent school", "fee-paying"),
    state=("State", "state-funded", "State - academy", "State - maintained", "STATE"),
)
STATE_TYPE_VARIANTS = _variants(
    maintained=("LA maintained", "local-authority maintained", "Maintained", "community"),
    academy=("Academy", "academy trust", "MAT academy"),
    free=("Free school", "free-school", "Free"),
)
PHASE_VARIANTS = _variants(
    primary=("Primary", "prim."),
    secondary=("Secondary", "sec.", "senior"),
    all_through=("All-through", "all through", "All through"),
)
ROLE_VARIANTS = _variants(
    senior_leader=("Senior leader", "SLT", "Head / deputy head", "senior leadership"),
    coordinator=("Partnership coordinator", "Coordinator", "ISSP lead"),
    teacher=("Teacher", "class teacher", "Teacher (subject)"),
    governor=("Governor", "trustee", "Governor / trustee"),
)
CONSENT_VARIANTS = _variants(yes=("Yes", "Y", "YES", "agreed"), no=("No", "N", "NO", "declined"))

#: (code, wording, tangible) for the survey items, from the practice guide and the study abstract.
BENEFIT_ITEMS = (
    ("B01", "access to shared expertise", False),
    ("B02", "better use of available resources", True),
    ("B03", "access to new funding", True),
    ("B04", "purchasing power / economies of scale", True),
    ("B05", "support for school improvement, raised expectations", False),
    ("B06", "improved pupil attainment", True),
    ("B07", "understanding of other schools and communities", False),
    ("B08", "staff development", False),
    ("B09", "better transfer arrangements between schools", True),
    ("B10", "cross-phase learning", False),
    ("B11", "access to facilities", True),
    ("B12", "raised pupil aspirations", False),
)
COST_ITEMS = (
    ("C01", "staff time", True),
    ("C02", "direct financial cost", True),
    ("C03", "travel and logistics", True),
    ("C04", "coordination and administration", True),
    ("C05", "reputational risk (seen as unequal or a 'charity case')", False),
    ("C06", "tension over competition (recruitment, results)", False),
    ("C07", "cultural friction between sectors", False),
    ("C08", "opportunity cost (time taken from one's own pupils)", False),
)
BENEFITS = tuple(code for code, _, _ in BENEFIT_ITEMS)
COSTS = tuple(code for code, _, _ in COST_ITEMS)
ITEMS = BENEFITS + COSTS
TANGIBLE = {code: tangible for code, _, tangible in BENEFIT_ITEMS + COST_ITEMS}
ITEM_WORDING = {code: wording for code, wording, _ in BENEFIT_ITEMS + COST_ITEMS}


def _item_columns(missing_codes: dict[int, str]) -> tuple[Column, ...]:
    columns = []
    for scale, items in (("benefit", BENEFIT_ITEMS), ("cost", COST_ITEMS)):
        for code, wording, tangible in items:
            columns.append(Column(
                code, "likert",
                f"{scale.capitalize()}: {wording} (1 not at all .. 5 a great deal).",
                minimum=LIKERT_MIN, maximum=LIKERT_MAX, nullable=True, scale=scale, tangible=tangible,
                missing_codes=missing_codes,
            ))
    return tuple(columns)


RAW_TABLES: dict[str, Table] = {
    "partnerships": Table("partnerships", "One row per partnership.", "partnership_id", (
        Column("partnership_id", "id", "Study identifier of the partnership."),
        Column("name", "text", "Name of the partnership.", nullable=True, identifier=True),
        Column("model", "label", "Main partnership model.", labels=MODELS),
        Column("formality", "label", "Informal or formal (written agreement).", labels=FORMALITY),
        Column("funding", "label", "Funding: self-funded, central (government) or trust.", labels=FUNDING),
        Column("start_year", "int", "Year the partnership started.", minimum=1998, maximum=2030),
        Column("region", "label", "Region of England.", labels=REGIONS),
    )),
    "schools": Table("schools", "One row per school in a partnership.", "school_id", (
        Column("school_id", "id", "Study identifier of the school."),
        Column("partnership_id", "id", "The partnership the school belongs to."),
        Column("name", "text", "School name.", nullable=True, identifier=True),
        Column("urn", "text", "National school number (URN).", nullable=True, identifier=True),
        Column("postcode", "text", "School postcode.", nullable=True, identifier=True),
        Column("sector", "label", "Independent (fee-charging) or state-funded.", labels=SECTORS,
               variants=SECTOR_VARIANTS),
        Column("state_type", "label", "Kind of state school: given for every state school, empty for "
               "independent schools.",
               labels=STATE_TYPES, variants=STATE_TYPE_VARIANTS, nullable=True),
        Column("phase", "label", "Primary, secondary or all-through.", labels=PHASES,
               variants=PHASE_VARIANTS),
        Column("pupils", "int", "Number of pupils on roll.", minimum=1, maximum=5000),
        Column("fsm_pct", "float", "Pupils eligible for free school meals (%); state schools only.",
               minimum=0, maximum=100, nullable=True),
        Column("selective", "bool", "Selective admissions."),
        Column("boarding", "bool", "Takes boarders."),
        Column("lead_school", "bool", "Leads the partnership."),
    )),
    "participants": Table("participants", "One row per person invited to the study.", "participant_id", (
        Column("participant_id", "id", "Study identifier of the person."),
        Column("school_id", "id", "The person's school."),
        Column("name", "text", "Full name.", nullable=True, identifier=True),
        Column("email", "text", "Email address.", nullable=True, identifier=True),
        Column("role", "label", "Role in the partnership.", labels=ROLES, variants=ROLE_VARIANTS),
        Column("years_in_role", "int", "Years in the current role.", minimum=0, maximum=45),
        Column("involvement", "int", "Self-rated involvement in the partnership (1-5).", minimum=1, maximum=5),
        Column("interviewed", "bool", "Took part in an interview."),
        Column("consent", "label", "Consent to use the data for research.", labels=CONSENT,
               variants=CONSENT_VARIANTS),
    )),
    "survey": Table("survey", "One row per survey submission (as exported by the platform).", "response_id", (
        Column("response_id", "id", "Platform identifier of the submission."),
        Column("participant_id", "id", "The person who submitted it; a submission with a blank or unknown "
               "id is dropped (rule unknown_participant).", nullable=True),
        Column("submitted_at", "datetime", "When it was submitted, in UTC: YYYY-MM-DD HH:MM:SS, "
               "YYYY-MM-DDTHH:MM:SSZ or DD/MM/YYYY HH:MM (platform versions differ)."),
        *_item_columns(MISSING_CODES),
        Column("comment", "free_text", "Free-text comment (may identify people: not kept).",
               nullable=True, identifier=True),
    )),
}

RAW_FILES = {name: f"{name}.csv" for name in RAW_TABLES}

#: Raw ids and the keyed pseudonyms that replace them in processed tables.
PSEUDONYM_OF = {"partnership_id": "partnership", "school_id": "school", "participant_id": "participant"}

#: Processed tables: pseudonymised keys, canonical labels, typed. Built by issp_research.clean.
PROCESSED_TABLES: dict[str, Table] = {
    "partnerships": Table("partnerships", "One row per partnership.", "partnership", (
        Column("partnership", "id", "Keyed pseudonym of the partnership."),
        *(RAW_TABLES["partnerships"].column(name) for name in
          ("model", "formality", "funding", "start_year", "region")),
    )),
    "schools": Table("schools", "One row per school.", "school", (
        Column("school", "id", "Keyed pseudonym of the school."),
        Column("partnership", "id", "Keyed pseudonym of its partnership."),
        *(RAW_TABLES["schools"].column(name) for name in
          ("sector", "state_type", "phase", "pupils", "fsm_pct", "selective", "boarding", "lead_school")),
    )),
    "participants": Table("participants", "One row per consenting participant.", "participant", (
        Column("participant", "id", "Keyed pseudonym of the person."),
        Column("school", "id", "Keyed pseudonym of the person's school."),
        *(RAW_TABLES["participants"].column(name) for name in
          ("role", "years_in_role", "involvement", "interviewed")),
    )),
    "responses": Table("responses", "One survey response per consenting participant (the latest complete one).",
                       "participant", (
        Column("participant", "id", "Keyed pseudonym of the respondent."),
        Column("submitted_at", "datetime", "Submission time (UTC)."),
        *_item_columns({}),
    )),
}

#: Where the compendium's names differ from STUDY.md's proposal, which asks that every such change
#: be written down in the data dictionary: (where, STUDY.md, here, why).
RENAMES = (
    ("schools.csv", "(no such column)", "postcode",
     "real exports carry the school's postcode; it is a direct identifier and never leaves data/raw"),
    ("processed tables", "partnership_id, school_id, participant_id", "partnership, school, participant",
     "keyed pseudonyms replace the study's ids, so the names say they are not the raw ids"),
    ("processed tables", "survey (one row per submission)", "responses (one row per respondent)",
     "after cleaning there is one response per consenting person"),
    ("processed tables", "name, email, urn, postcode, comment, response_id, consent", "(dropped)",
     "direct identifiers and free text never leave data/raw; every kept person consented"),
    ("labels", "e.g. 'local-authority maintained', 'free school', 'all-through', 'senior leader', "
     "'partnership coordinator'", "maintained, free, all_through, senior_leader, coordinator",
     "codes are lower-case snake_case; figures and tables show display labels"),
    ("partnerships.csv model", "the eight partnership models in words", ", ".join(MODELS),
     "one code per model of STUDY.md, in its order"),
)

#: Columns whose label order defines the reference level of every model (the first label).
FACTORS = {
    "sector": SECTORS, "state_type": STATE_TYPES, "phase": PHASES, "role": ROLES, "model": MODELS,
    "formality": FORMALITY, "funding": FUNDING, "region": REGIONS,
}
