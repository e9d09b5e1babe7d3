"""Deterministic rows for the demo CRM: same seed, same rows, on every machine."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from psycopg.types.json import Jsonb

SEED = 20261127
COMPANY_COUNT = 500
CONTACT_COUNT = 10_000
DEAL_COUNT = 4_000
# Every timestamp is relative to this instant, never to "now".
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

FIRST_NAMES = (
    "Ada", "Alan", "Amara", "Anna", "Arjun", "Beatriz", "Carlos", "Chen", "Chloe", "Daniel",
    "Elena", "Emeka", "Fatima", "Finn", "Grace", "Hana", "Hugo", "Ines", "Ivan", "Jonas",
    "Julia", "Kai", "Kenji", "Lara", "Leila", "Liam", "Lucia", "Malik", "Maria", "Mateo",
    "Mei", "Nadia", "Noah", "Olga", "Omar", "Priya", "Rafael", "Sara", "Sofia", "Tariq",
    "Tomas", "Uma", "Victor", "Wei", "Yara", "Yusuf", "Zoe", "Zsofia",
)  # fmt: skip
LAST_NAMES = (
    "Andersen", "Banerjee", "Costa", "Dubois", "Eriksson", "Fischer", "Garcia", "Haddad",
    "Ito", "Jansen", "Kowalski", "Lopez", "Moreau", "Nakamura", "Novak", "Okafor", "Petrov",
    "Quinn", "Rossi", "Schmidt", "Silva", "Tanaka", "Usman", "Van Dijk", "Wang", "Weber",
    "Xu", "Yilmaz", "Zhang", "Ziegler",
)  # fmt: skip
WORDS = (
    "Acme", "Apex", "Arbor", "Atlas", "Beacon", "Bright", "Cedar", "Cobalt", "Crest", "Delta",
    "Ember", "Falcon", "Granite", "Harbor", "Helix", "Iron", "Juniper", "Kite", "Lumen",
    "Maple", "Meridian", "Nimbus", "Northwind", "Orbit", "Pine", "Quartz", "River", "Summit",
    "Tidal", "Vertex", "Willow", "Zenith",
)  # fmt: skip
SUFFIXES = ("Labs", "Systems", "Group", "Logistics", "Health", "Foods", "Energy", "Analytics")
INDUSTRIES = (
    "COMPUTER_SOFTWARE", "HOSPITAL_HEALTH_CARE", "FINANCIAL_SERVICES", "RETAIL",
    "LOGISTICS_AND_SUPPLY_CHAIN", "RENEWABLES_ENVIRONMENT", "FOOD_BEVERAGES", "EDUCATION_MANAGEMENT",
)  # fmt: skip
# (city, ISO country, longitude, latitude)
CITIES = (
    ("Amsterdam", "NL", 4.9041, 52.3676), ("Berlin", "DE", 13.4050, 52.5200),
    ("Boston", "US", -71.0589, 42.3601), ("Lagos", "NG", 3.3792, 6.5244),
    ("Lisbon", "PT", -9.1393, 38.7223), ("Melbourne", "AU", 144.9631, -37.8136),
    ("Mumbai", "IN", 72.8777, 19.0760), ("Osaka", "JP", 135.5023, 34.6937),
    ("Paris", "FR", 2.3522, 48.8566), ("Sao Paulo", "BR", -46.6333, -23.5505),
    ("Toronto", "CA", -79.3832, 43.6532), ("Warsaw", "PL", 21.0122, 52.2297),
)  # fmt: skip
JOB_TITLES = (
    "CEO", "CTO", "Head of Sales", "Marketing Manager", "Data Engineer", "Account Executive",
    "Operations Lead", "Product Manager", "Procurement Officer", None,
)  # fmt: skip
STATUSES = ("lead", "prospect", "customer", "churned")
STATUS_WEIGHTS = (40, 25, 28, 7)
STAGES = (
    "appointmentscheduled", "qualifiedtobuy", "presentationscheduled",
    "decisionmakerboughtin", "contractsent", "closedwon", "closedlost",
)  # fmt: skip
TAGS = ("newsletter", "webinar", "vip", "trial", "partner", "event-2025", "referral", "inbound")
SEGMENTS = (
    ("Enterprise", "Companies with more than 1,000 employees"),
    ("SMB", "Small and medium businesses"),
    ("EMEA", "Europe, the Middle East and Africa"),
    ("Americas", "North and South America"),
    ("APAC", "Asia and the Pacific"),
    ("Newsletter", "Subscribed to the monthly newsletter"),
    ("Champions", "Active advocates of the product"),
    ("At risk", "Customers showing signs of churn"),
    ("Trialists", "On a free trial"),
    ("Partners", "Resellers and integration partners"),
    ("Decision makers", "Can sign a contract"),
    ("Event attendees", "Met us at an event"),
)
CENTS = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class DemoData:
    """Rows for each demo table, as tuples in the loader's column order."""

    companies: list[tuple[object, ...]]
    contacts: list[tuple[object, ...]]
    deals: list[tuple[object, ...]]
    segments: list[tuple[object, ...]]
    contact_segments: list[tuple[object, ...]]


def money(rng: random.Random, low: int, high: int) -> Decimal:
    """Return a random amount with cents between `low` and `high`."""
    return (Decimal(rng.randint(low * 100, high * 100)) / 100).quantize(CENTS)


def moment(rng: random.Random, *, days_back: int) -> datetime:
    """Return a timestamp up to `days_back` days before EPOCH, to the second."""
    return EPOCH - timedelta(seconds=rng.randint(0, days_back * 86_400))


def generate_companies(rng: random.Random) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for company_id in range(1, COMPANY_COUNT + 1):
        name = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {rng.choice(SUFFIXES)}"
        domain = f"{name.lower().replace(' ', '')}{company_id}.example.com"
        city, country, lon, lat = rng.choice(CITIES)
        employees = rng.choice((5, 12, 40, 120, 450, 1_200, 5_000, 20_000)) + rng.randint(0, 9)
        created = moment(rng, days_back=1_500)
        # Jitter the point inside the city so companies do not stack exactly.
        location = f"SRID=4326;POINT({lon + rng.uniform(-0.05, 0.05):.6f} {lat + rng.uniform(-0.05, 0.05):.6f})"
        rows.append(
            (
                company_id, name, domain, rng.choice(INDUSTRIES), employees,
                money(rng, 50_000, 500_000) * employees, country, city,
                rng.randint(1950, 2024), employees > 1_000 and rng.random() < 0.5,
                created, created + timedelta(days=rng.randint(0, 300)), location,
            )
        )  # fmt: skip
    return rows


def generate_contacts(rng: random.Random) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for contact_id in range(1, CONTACT_COUNT + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first}.{last.replace(' ', '')}{contact_id}@example.org".lower()
        company_id = rng.randint(1, COMPANY_COUNT) if rng.random() < 0.9 else None
        status = rng.choices(STATUSES, weights=STATUS_WEIGHTS)[0]
        tags = sorted(rng.sample(TAGS, rng.randint(0, 3)))
        attributes = {
            "source": rng.choice(("web", "event", "referral", "import")),
            "score": rng.randint(0, 100),
            "newsletter": rng.random() < 0.4,
        }
        birthday = (
            date(rng.randint(1955, 2004), rng.randint(1, 12), rng.randint(1, 28))
            if rng.random() < 0.7
            else None
        )
        created = moment(rng, days_back=1_000)
        rows.append(
            (
                contact_id, uuid.UUID(int=rng.getrandbits(128), version=4), email, first, last,
                f"+1-555-{rng.randint(0, 9999):04d}" if rng.random() < 0.8 else None,
                rng.choice(JOB_TITLES), company_id, status, tags, Jsonb(attributes),
                money(rng, 0, 50_000) if status == "customer" else Decimal("0.00"), birthday,
                created, created + timedelta(days=rng.randint(0, 200), seconds=rng.randint(0, 86_399)),
            )
        )  # fmt: skip
    return rows


def generate_deals(
    rng: random.Random, contacts: list[tuple[object, ...]]
) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for deal_id in range(1, DEAL_COUNT + 1):
        contact = rng.choice(contacts)
        stage = rng.choice(STAGES)
        created = moment(rng, days_back=700)
        closed = stage in ("closedwon", "closedlost")
        rows.append(
            (
                deal_id, f"{contact[4]} renewal {deal_id}" if rng.random() < 0.3 else f"New business {deal_id}",
                contact[0], contact[7], money(rng, 500, 250_000), stage,
                (created + timedelta(days=rng.randint(10, 180))).date() if closed else None,
                created, created + timedelta(days=rng.randint(0, 90)),
            )
        )  # fmt: skip
    return rows


def generate_demo_data(seed: int = SEED) -> DemoData:
    """Return every demo row, generated from `seed`."""
    rng = random.Random(seed)  # noqa: S311 (demo data, not security)
    companies = generate_companies(rng)
    contacts = generate_contacts(rng)
    deals = generate_deals(rng, contacts)
    segments: list[tuple[object, ...]] = [
        (index, name, description) for index, (name, description) in enumerate(SEGMENTS, start=1)
    ]
    memberships: list[tuple[object, ...]] = []
    for contact in contacts:
        for segment_id in sorted(rng.sample(range(1, len(SEGMENTS) + 1), rng.randint(0, 3))):
            memberships.append((contact[0], segment_id, moment(rng, days_back=300)))
    return DemoData(companies, contacts, deals, segments, memberships)
