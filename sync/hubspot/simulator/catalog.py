"""The object types the simulator serves and the properties each starts with.

One rule: this module is data only: contacts (`0-1`), companies (`0-2`),
deals (`0-3`) and one custom object, pets (`2-4001`, also `p_pets` and
`p<portal>_pets`), each with HubSpot's default properties (read-only system
properties included) and a few of every type so every validation rule can be
exercised. Path names, type ids and singular names all resolve to the same type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

BOOL_OPTIONS = (("Yes", "true"), ("No", "false"))


@dataclass(frozen=True, slots=True)
class Option:
    """One enumeration option: the label people see and the internal value the API takes."""

    label: str
    value: str
    display_order: int = 0
    hidden: bool = False


@dataclass(frozen=True, slots=True)
class PropertyDef:
    """One property definition, as the properties API describes it."""

    name: str
    label: str
    type: str
    field_type: str
    group_name: str
    options: tuple[Option, ...] = ()
    has_unique_value: bool = False
    read_only: bool = False
    hubspot_defined: bool = True
    external_options: bool = False
    description: str = ""
    display_order: int = -1
    hidden: bool = False
    created_ms: int = 0


@dataclass(frozen=True, slots=True)
class ObjectType:
    """One CRM object type and the names it goes by."""

    name: str  # the path name: contacts, companies, deals, p_pets
    type_id: str  # 0-1, 0-2, 0-3, 2-4001
    singular: str  # contact, company, deal, pet
    label: str  # "Contact": the 409 message's subject
    scope: str  # contacts, companies, deals, custom: the scope names
    created_property: str
    modified_property: str
    default_properties: tuple[str, ...]
    query_properties: tuple[str, ...]  # what search's free-text `query` looks at
    lowercase_unique: tuple[str, ...]  # unique properties compared and stored lowercased
    webhook_prefix: str  # contact / company / deal, or "object" for generic subscriptions
    group_name: str
    aliases: frozenset[str] = field(default_factory=frozenset)

    @property
    def error_name(self) -> str:
        """The upper-case name in OBJECT_NOT_FOUND messages (CONTACT, COMPANY …)."""
        return self.singular.upper()

    @property
    def system_properties(self) -> tuple[str, ...]:
        """Properties every record answer carries, asked for or not."""
        return (self.created_property, self.modified_property, "hs_object_id")


def _text(name: str, label: str, group: str, *, field_type: str = "text") -> PropertyDef:
    return PropertyDef(name, label, "string", field_type, group)


def _enum(
    name: str, label: str, group: str, values: tuple[str, ...], *, field_type: str = "select"
) -> PropertyDef:
    options = tuple(
        Option(value.replace("_", " ").title(), value, i) for i, value in enumerate(values)
    )
    return PropertyDef(name, label, "enumeration", field_type, group, options)


def _bool(name: str, label: str, group: str) -> PropertyDef:
    options = tuple(Option(text, value, i) for i, (text, value) in enumerate(BOOL_OPTIONS))
    return PropertyDef(name, label, "bool", "booleancheckbox", group, options)


def _system(group: str, created: str, modified: str) -> tuple[PropertyDef, ...]:
    return (
        PropertyDef("hs_object_id", "Record ID", "number", "number", group, read_only=True),
        PropertyDef(created, "Create Date", "datetime", "date", group, read_only=True),
        PropertyDef(modified, "Last Modified Date", "datetime", "date", group, read_only=True),
        PropertyDef(
            "hs_merged_object_ids",
            "Merged record IDs",
            "enumeration",
            "checkbox",
            group,
            read_only=True,
            external_options=True,
        ),
    )


LIFECYCLE_STAGES = (
    "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead",
    "opportunity", "customer", "evangelist", "other",
)  # fmt: skip


def _owner(group: str) -> PropertyDef:
    # Owners are external options: HubSpot lists none and checks them elsewhere.
    return PropertyDef(
        "hubspot_owner_id", "Contact owner", "enumeration", "select", group, external_options=True
    )


def _contact_properties() -> tuple[PropertyDef, ...]:
    g = "contactinformation"
    texts = (
        ("firstname", "First Name"), ("lastname", "Last Name"), ("company", "Company Name"),
        ("website", "Website URL"), ("jobtitle", "Job Title"), ("address", "Street Address"),
        ("city", "City"), ("state", "State/Region"), ("zip", "Postal Code"), ("country", "Country"),
    )  # fmt: skip
    return (
        _text("email", "Email", g),
        *(_text(name, label, g) for name, label in texts),
        _text("phone", "Phone Number", g, field_type="phonenumber"),
        _text("message", "Message", g, field_type="textarea"),
        _enum("lifecyclestage", "Lifecycle Stage", g, LIFECYCLE_STAGES, field_type="radio"),
        _enum(
            "hs_lead_status",
            "Lead Status",
            g,
            (
                "NEW",
                "OPEN",
                "IN_PROGRESS",
                "OPEN_DEAL",
                "UNQUALIFIED",
                "ATTEMPTED_TO_CONTACT",
                "CONNECTED",
                "BAD_TIMING",
            ),
            field_type="radio",
        ),
        PropertyDef("date_of_birth", "Date of birth", "date", "date", g),
        _bool("hs_email_optout", "Unsubscribed from all email", g),
        PropertyDef(
            "hs_additional_emails",
            "Additional email addresses",
            "string",
            "textarea",
            g,
            read_only=True,
        ),
        _owner(g),
        *_system(g, "createdate", "lastmodifieddate"),
    )


def _company_properties() -> tuple[PropertyDef, ...]:
    g = "companyinformation"
    texts = (
        ("name", "Company name"), ("domain", "Company Domain Name"), ("website", "Website URL"),
        ("address", "Street Address"), ("city", "City"), ("state", "State/Region"),
        ("zip", "Postal Code"), ("country", "Country/Region"), ("founded_year", "Year Founded"),
    )  # fmt: skip
    industries = (
        "ACCOUNTING", "AIRLINES_AVIATION", "COMPUTER_SOFTWARE", "FINANCIAL_SERVICES",
        "HOSPITAL_HEALTH_CARE", "INFORMATION_TECHNOLOGY_AND_SERVICES",
        "MARKETING_AND_ADVERTISING", "RETAIL",
    )  # fmt: skip
    return (
        *(_text(name, label, g) for name, label in texts),
        _text("phone", "Phone Number", g, field_type="phonenumber"),
        _text("description", "Description", g, field_type="textarea"),
        _enum("industry", "Industry", g, industries),
        _enum("type", "Type", g, ("PROSPECT", "PARTNER", "RESELLER", "VENDOR", "OTHER")),
        _enum("lifecyclestage", "Lifecycle Stage", g, LIFECYCLE_STAGES, field_type="radio"),
        PropertyDef("numberofemployees", "Number of Employees", "number", "number", g),
        PropertyDef("annualrevenue", "Annual Revenue", "number", "number", g),
        _bool("is_public", "Is Public", g),
        _owner(g),
        *_system(g, "createdate", "hs_lastmodifieddate"),
    )


def _deal_properties() -> tuple[PropertyDef, ...]:
    g = "dealinformation"
    stages = (
        "appointmentscheduled", "qualifiedtobuy", "presentationscheduled",
        "decisionmakerboughtin", "contractsent", "closedwon", "closedlost",
    )  # fmt: skip
    return (
        _text("dealname", "Deal Name", g),
        PropertyDef("amount", "Amount", "number", "number", g),
        PropertyDef("closedate", "Close Date", "datetime", "date", g),
        _enum("pipeline", "Pipeline", g, ("default",)),
        _enum("dealstage", "Deal Stage", g, stages, field_type="radio"),
        _enum("dealtype", "Deal Type", g, ("newbusiness", "existingbusiness"), field_type="radio"),
        _enum("hs_priority", "Priority", g, ("low", "medium", "high")),
        _text("description", "Deal Description", g, field_type="textarea"),
        _owner(g),
        *_system(g, "createdate", "hs_lastmodifieddate"),
    )


def _pet_properties() -> tuple[PropertyDef, ...]:
    g = "pet_information"
    return (
        PropertyDef("name", "Name", "string", "text", g, hubspot_defined=False),
        PropertyDef(
            "pet_tag", "Pet tag", "string", "text", g, has_unique_value=True, hubspot_defined=False
        ),
        _enum("species", "Species", g, ("dog", "cat", "bird", "rabbit", "other")),
        _enum("toys", "Toys", g, ("ball", "rope", "bone", "mouse"), field_type="checkbox"),
        PropertyDef("birthday", "Birthday", "date", "date", g, hubspot_defined=False),
        PropertyDef("weight_kg", "Weight (kg)", "number", "number", g, hubspot_defined=False),
        _bool("vaccinated", "Vaccinated", g),
        *_system(g, "hs_createdate", "hs_lastmodifieddate"),
    )


CONTACTS = ObjectType(
    name="contacts", type_id="0-1", singular="contact", label="Contact", scope="contacts",
    created_property="createdate", modified_property="lastmodifieddate",
    default_properties=("firstname", "lastname", "email"),
    query_properties=("firstname", "lastname", "email", "phone", "company"),
    lowercase_unique=("email",), webhook_prefix="contact", group_name="contactinformation",
)  # fmt: skip
COMPANIES = ObjectType(
    name="companies", type_id="0-2", singular="company", label="Company", scope="companies",
    created_property="createdate", modified_property="hs_lastmodifieddate",
    default_properties=("name", "domain"), query_properties=("name", "domain", "website", "phone"),
    lowercase_unique=("domain",), webhook_prefix="company", group_name="companyinformation",
)  # fmt: skip
DEALS = ObjectType(
    name="deals", type_id="0-3", singular="deal", label="Deal", scope="deals",
    created_property="createdate", modified_property="hs_lastmodifieddate",
    default_properties=("dealname", "amount", "closedate", "pipeline", "dealstage"),
    query_properties=("dealname",), lowercase_unique=(), webhook_prefix="deal",
    group_name="dealinformation",
)  # fmt: skip
PETS = ObjectType(
    name="p_pets", type_id="2-4001", singular="pet", label="Pet", scope="custom",
    created_property="hs_createdate", modified_property="hs_lastmodifieddate",
    default_properties=("name",), query_properties=("name", "pet_tag"), lowercase_unique=(),
    webhook_prefix="object", group_name="pet_information", aliases=frozenset({"pets", "pet"}),
)  # fmt: skip

OBJECT_TYPES: tuple[ObjectType, ...] = (CONTACTS, COMPANIES, DEALS, PETS)

DEFAULT_PROPERTIES: dict[str, tuple[PropertyDef, ...]] = {
    CONTACTS.name: _contact_properties(),
    COMPANIES.name: _company_properties(),
    DEALS.name: _deal_properties(),
    PETS.name: _pet_properties(),
}

_FULLY_QUALIFIED_PETS = re.compile(r"^p\d+_pets$")
_BY_NAME: dict[str, ObjectType] = {}
for _type in OBJECT_TYPES:
    for _alias in (_type.name, _type.type_id, _type.singular, *_type.aliases):
        _BY_NAME[_alias] = _type


def resolve_type(name: str) -> ObjectType | None:
    """Return the object type a path segment names (any of its names, case-insensitive)."""
    key = name.lower()
    found = _BY_NAME.get(key)
    if found is None and _FULLY_QUALIFIED_PETS.match(key):
        return PETS
    return found
