"""Contract frames from the simulated arrays: string ids, ISO dates, names, missing values."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from features.contract import ACTIVITY_TYPES, OPPORTUNITY_STAGES, REP_LEVELS, TABLES
from features.sample_world.accounts import Accounts
from features.sample_world.config import INDUSTRIES, WorldParams
from features.sample_world.history import History
from features.sample_world.places import REGION_NAMES
from features.sample_world.reps import NO_DAY, Roster
from features.tables import CrmTables

ID_WIDTHS = {"A": 6, "R": 4, "O": 8, "E": 9}


@dataclass(frozen=True)
class IdStart:
    """Where a block's ids begin: the rows of each kind written by the blocks before it
    (features/sample_world/blocks.py); all 0 for a world generated in one piece."""

    accounts: int = 0
    reps: int = 0
    opportunities: int = 0
    activities: int = 0
    # the whole world's id widths (A, R, O, E), so every block's ids are as wide (0: as n needs)
    digits: tuple[int, int, int, int] = (0, 0, 0, 0)

    def ids(self, prefix: str, n: int) -> pa.StringArray:
        """This block's n ids of kind `prefix` (A, R, O, E), numbered on from the blocks
        before it."""
        kinds = ("A", "R", "O", "E")
        start = (self.accounts, self.reps, self.opportunities, self.activities)
        k = kinds.index(prefix)
        return sequential_ids(prefix, n, start[k], self.digits[k])


WHOLE = IdStart()
NAME_PREFIXES = (
    "Acme",
    "Apex",
    "Beacon",
    "Blue Ridge",
    "Cedar",
    "Summit",
    "Harbor",
    "Keystone",
    "Lakeside",
    "Liberty",
    "Meridian",
    "Northwind",
    "Oak",
    "Pinnacle",
    "Prairie",
    "Redwood",
    "Riverbend",
    "Silverline",
    "Sterling",
    "Tri-County",
    "Union",
    "Vanguard",
    "Westfield",
    "Frontier",
    "Granite",
    "Heritage",
    "Ironwood",
    "Juniper",
    "Magnolia",
    "Pioneer",
    "Sequoia",
    "Coastal",
)
NAME_NOUNS = (
    "Partners",
    "Group",
    "Industries",
    "Solutions",
    "Systems",
    "Holdings",
    "Works",
    "Services",
    "Associates",
    "Labs",
)
NAME_SUFFIXES = ("Inc", "LLC", "Co", "Corp", "Ltd", "")
FIRST_NAMES = (
    "Avery",
    "Blake",
    "Carmen",
    "Dana",
    "Eli",
    "Farah",
    "Gabe",
    "Hana",
    "Ivan",
    "Jade",
    "Kai",
    "Lena",
    "Marco",
    "Nadia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
    "Uma",
    "Victor",
    "Wes",
    "Ximena",
    "Yusuf",
    "Zoe",
)
LAST_NAMES = (
    "Adams",
    "Baker",
    "Chen",
    "Diaz",
    "Evans",
    "Flores",
    "Garcia",
    "Hughes",
    "Ito",
    "Johnson",
    "Kim",
    "Lopez",
    "Miller",
    "Nguyen",
    "Okafor",
    "Patel",
    "Reyes",
    "Singh",
    "Taylor",
    "Walsh",
)


def sequential_ids(prefix: str, n: int, start: int = 0, digits: int = 0) -> pa.StringArray:
    """Ids prefix + start+1..start+n zero-padded (A000001, R0001, O00000001), wider only when
    the largest needs it or `digits` asks (`start`, `digits`: one block of a world written
    block by block, IdStart).

    Built digit by digit from repeated blocks straight into an Arrow buffer: no Python strings,
    so tens of millions of ids take about a second.
    """
    width = max(ID_WIDTHS[prefix], digits, len(str(start + n)))
    rows = np.empty((n + 1, width + 1), dtype=np.uint8)
    rows[:, 0] = ord(prefix)
    for k in range(width):
        period = 10**k
        # numbers start..start+n: digit k of the first is (start // period) % 10, and the runs
        # of equal digits are shifted by start % period
        first, shift = divmod(start, period)
        runs = -(-(n + 1 + shift) // period)
        digits = ((np.arange(runs, dtype=np.int64) + first) % 10 + 48).astype(np.uint8)
        rows[:, width - k] = np.repeat(digits, period)[shift : shift + n + 1]
    if (n + 1) * (width + 1) < 2**31:  # Arrow's string type holds 32-bit offsets
        offsets = np.arange(0, (n + 1) * (width + 1), width + 1, dtype=np.int32)
        return pa.StringArray.from_buffers(
            n, pa.py_buffer(offsets), pa.py_buffer(rows[1:].reshape(-1))
        )
    offsets = np.arange(0, (n + 1) * (width + 1), width + 1, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(rows[1:].reshape(-1))
    )


def id_series(ids: pa.Array) -> pd.Series:
    """An Arrow string array as a pandas str Series."""
    return pd.Series(pd.array(ids, dtype="str"))


def _lookup(ids: pa.Array, index: np.ndarray) -> pd.Series:
    """ids[index] as a str Series; index -1 becomes missing."""
    index = np.asarray(index)
    positions = pa.array(index.astype(np.int64), mask=index < 0)
    return id_series(ids.take(positions))


def to_dates(days: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 as datetime64[ns]; NO_DAY becomes NaT."""
    days = np.asarray(days, dtype=np.int64)
    out = np.where(days >= NO_DAY, 0, days).astype("datetime64[D]").astype("datetime64[ns]")
    out[days >= NO_DAY] = np.datetime64("NaT")
    return out


def choice_text(options: tuple[str, ...], index: np.ndarray) -> pd.Series:
    """options[index] as a str Series (built through an Arrow dictionary: fast at any size)."""
    codes = pa.array(np.asarray(index, dtype=np.int32))
    labels = pa.DictionaryArray.from_arrays(codes, pa.array(list(options), type=pa.string()))
    return pd.Series(pd.array(labels.cast(pa.string()), dtype="str"))


def _account_names(n: int, rng: np.random.Generator) -> pd.Series:
    """Plausible company names (not unique, as in a real CRM)."""
    prefix = choice_text(NAME_PREFIXES, rng.integers(0, len(NAME_PREFIXES), n))
    noun = choice_text(NAME_NOUNS, rng.integers(0, len(NAME_NOUNS), n))
    suffix = choice_text(NAME_SUFFIXES, rng.integers(0, len(NAME_SUFFIXES), n))
    return (prefix + " " + noun + " " + suffix).str.strip()


def accounts_frame(
    accounts: Accounts,
    ids: pd.Series,
    cities: pd.DataFrame,
    params: WorldParams,
    rng: np.random.Generator,
    start: int = 0,
) -> pd.DataFrame:
    """The accounts table as exported: a few per cent of sizes and locations left empty
    (`start`: accounts before this block, for the CRM record ids)."""
    n = len(accounts)
    no_emp = rng.random(n) < params.missing_employees
    no_rev = rng.random(n) < params.missing_revenue
    no_loc = rng.random(n) < params.missing_location
    employees = pd.array(accounts.employees, dtype="Int64")
    employees[no_emp] = pd.NA
    frame = pd.DataFrame(
        {
            "account_id": ids,
            "name": _account_names(n, rng),
            "industry": choice_text(tuple(i.name for i in INDUSTRIES), accounts.industry),
            "employees": employees,
            "annual_revenue": np.where(no_rev, np.nan, accounts.annual_revenue),
            "latitude": np.where(no_loc, np.nan, np.round(accounts.latitude, 5)),
            "longitude": np.where(no_loc, np.nan, np.round(accounts.longitude, 5)),
            "city": cities["name"].astype("str").take(accounts.city).reset_index(drop=True),
            "region": choice_text(REGION_NAMES, accounts.region),
            "country": pd.Series(np.full(n, "US", dtype=object), dtype="str"),
            "created_at": to_dates(accounts.created_day),
            # The sample world has no survey data: the optional column stays empty.
            "satisfaction": np.full(n, np.nan),
            # CRM record ids shaped like HubSpot's numeric company ids, derived from the row
            # (no random draw, so the rest of the world is unchanged).
            "crm_id": pd.Series(
                [str(9_000_000_001 + i) for i in range(start, start + n)], dtype="str"
            ),
        }
    )
    return frame[TABLES["accounts"].column_names]


def expertise_text(expertise: np.ndarray) -> list[str]:
    """'|'-separated industry names per rep, in the INDUSTRIES order."""
    names = [i.name for i in INDUSTRIES]
    return ["|".join(names[j] for j in np.flatnonzero(row)) for row in expertise]


def reps_frame(
    roster: Roster, ids: pd.Series, params: WorldParams, rng: np.random.Generator, start: int = 0
) -> pd.DataFrame:
    """The reps table as exported: some expertise and capacities not filled in (`start`: reps
    before this block, for their CRM identities)."""
    n = len(roster)
    no_expertise = rng.random(n) < params.missing_rep_industries
    no_capacity = rng.random(n) < params.missing_capacity
    first = rng.integers(0, len(FIRST_NAMES), n)
    last = rng.integers(0, len(LAST_NAMES), n)
    industries = pd.Series(expertise_text(roster.expertise), dtype="str")
    frame = pd.DataFrame(
        {
            "rep_id": ids,
            "name": pd.Series(
                [f"{FIRST_NAMES[f]} {LAST_NAMES[la]}" for f, la in zip(first, last, strict=True)],
                dtype="str",
            ),
            "hired_at": to_dates(roster.hire_day),
            "level": choice_text(REP_LEVELS, roster.level),
            "industries": industries.where(~pd.Series(no_expertise)),
            "home_latitude": np.round(roster.latitude, 5),
            "home_longitude": np.round(roster.longitude, 5),
            "capacity": np.where(no_capacity, np.nan, roster.capacity),
            "active": roster.left_day >= NO_DAY,
        }
    )
    identities = crm_user_identities(frame["name"], start)
    for column in identities.columns:
        frame[column] = identities[column]
    return frame[TABLES["reps"].column_names]


def crm_user_identities(names: pd.Series, start: int = 0) -> pd.DataFrame:
    """Each rep's CRM user id (HubSpot-style numeric owner id), a unique sign-in email and the
    Salesforce Territory2 Id of their territory, derived from the row number (no random draw;
    `start`: reps before this block)."""
    n = len(names)
    local = names.str.lower().str.replace(r"[^a-z]+", ".", regex=True).str.strip(".")
    return pd.DataFrame(
        {
            "crm_user_id": pd.Series(
                [str(70_000_001 + i) for i in range(start, start + n)], dtype="str"
            ),
            "email": pd.Series(
                [f"{name}.{i + 1}@example.com" for i, name in enumerate(local, start)],
                dtype="str",
            ),
            "crm_territory_id": pd.Series(
                [f"0MI{i + 1:015d}" for i in range(start, start + n)], dtype="str"
            ),
        },
        index=names.index,
    )


def crm_tables(
    accounts: Accounts,
    history: History,
    ids: tuple[pa.Array, pa.Array],
    cities: pd.DataFrame,
    params: WorldParams,
    rng: np.random.Generator,
    start: IdStart = WHOLE,
) -> CrmTables:
    """All five contract tables of the world, with contract column order and kinds (`start`:
    where this block's opportunity and activity ids and CRM record ids begin)."""
    account_ids, rep_ids = ids
    opps, acts, spells = history.opportunities, history.activities, history.spells
    order = np.lexsort((spells["start"], spells["account"]))
    spells = {k: v[order] for k, v in spells.items()}
    return CrmTables(
        accounts=accounts_frame(
            accounts, id_series(account_ids), cities, params, rng, start.accounts
        ),
        reps=reps_frame(history.roster, id_series(rep_ids), params, rng, start.reps),
        opportunities=pd.DataFrame(
            {
                "opportunity_id": id_series(start.ids("O", len(opps["account"]))),
                "account_id": _lookup(account_ids, opps["account"]),
                "rep_id": _lookup(rep_ids, opps["rep"]),
                "created_at": to_dates(opps["created"]),
                "closed_at": to_dates(opps["closed"]),
                "stage": choice_text(OPPORTUNITY_STAGES, opps["stage"]),
                "amount": opps["amount"],
            }
        ),
        assignments=pd.DataFrame(
            {
                "account_id": _lookup(account_ids, spells["account"]),
                "rep_id": _lookup(rep_ids, spells["rep"]),
                "start_date": to_dates(spells["start"]),
                "end_date": to_dates(spells["end"]),
            }
        ),
        activities=pd.DataFrame(
            {
                "activity_id": id_series(start.ids("E", len(acts["account"]))),
                "account_id": _lookup(account_ids, acts["account"]),
                "rep_id": _lookup(rep_ids, acts["rep"]),
                "occurred_at": to_dates(acts["day"]),
                "type": choice_text(ACTIVITY_TYPES, acts["type"]),
            }
        ),
    )
