"""`/api/privileges…`, `/api/rules…`, `/api/rule-violations…`, `/api/contracts…`: HTTP only;
the rules are in `records.py`."""

from __future__ import annotations

from fastapi import APIRouter, status

from tessera.core.db import DbSession
from tessera.core.errors import error_responses
from tessera.core.kit.money import ExactDecimalRoute
from tessera.modules.family import records
from tessera.modules.family.deps import MemberDep
from tessera.modules.family.params import DayRangeDep, SeedPageDep, parse_day
from tessera.modules.family.schemas import (
    ContractCreate,
    ContractDeleted,
    ContractOut,
    ContractUpdate,
    PrivilegeCreate,
    PrivilegeOut,
    PrivilegePage,
    PrivilegeUpdate,
    RuleCreate,
    RuleDeleted,
    RuleOut,
    RuleUpdate,
    ViolationCreate,
    ViolationOut,
)
from tessera.modules.family.task_endpoints import Success

AUTH = error_responses(401, 403)
NOT_FOUND = error_responses(404)
privileges = APIRouter(prefix="/api/privileges", tags=["family: privileges"], responses=AUTH)
rules = APIRouter(prefix="/api/rules", tags=["family: rules"], responses=AUTH)
violations = APIRouter(prefix="/api/rule-violations", tags=["family: violations"], responses=AUTH)
contracts = APIRouter(
    prefix="/api/contracts",
    tags=["family: contracts"],
    responses=AUTH,
    route_class=ExactDecimalRoute,
)


# --- privileges -------------------------------------------------------------------------------


@privileges.get("", response_model=PrivilegePage)
async def list_privileges(
    caller: MemberDep, session: DbSession, page: SeedPageDep
) -> PrivilegePage:
    rows, total = await records.privileges_page(session, caller, None, page.page, page.limit)
    return PrivilegePage(privileges=[records.privilege_out(p, caller) for p in rows], total=total)


@privileges.get("/calendar", response_model=list[PrivilegeOut])
async def privileges_calendar(caller: MemberDep, session: DbSession) -> list[PrivilegeOut]:
    rows = await records.visible_privileges(session, caller, None, None)
    return [records.privilege_out(p, caller) for p in rows]


@privileges.get(
    "/calendar/range", response_model=list[PrivilegeOut], responses=error_responses(400)
)
async def privileges_range(
    caller: MemberDep, session: DbSession, span: DayRangeDep
) -> list[PrivilegeOut]:
    rows = await records.visible_privileges(session, caller, span.start, span.end)
    return [records.privilege_out(p, caller) for p in rows]


@privileges.get("/user/{user_id}", response_model=PrivilegePage, responses=NOT_FOUND)
async def privileges_of_user(
    user_id: str, caller: MemberDep, session: DbSession, page: SeedPageDep
) -> PrivilegePage:
    rows, total = await records.privileges_page(session, caller, user_id, page.page, page.limit)
    return PrivilegePage(privileges=[records.privilege_out(p, caller) for p in rows], total=total)


@privileges.get("/date/{day}", response_model=list[PrivilegeOut], responses=error_responses(400))
async def privileges_on(day: str, caller: MemberDep, session: DbSession) -> list[PrivilegeOut]:
    when = parse_day(day)
    caller.require_parent()
    rows = await records.visible_privileges(session, caller, when, when)
    return [records.privilege_out(p, caller) for p in rows]


@privileges.post(
    "", response_model=PrivilegeOut, status_code=status.HTTP_201_CREATED, responses=NOT_FOUND
)
async def create_privilege(
    body: PrivilegeCreate, caller: MemberDep, session: DbSession
) -> PrivilegeOut:
    return records.privilege_out(await records.create_privilege(session, caller, body), caller)


@privileges.put("/{privilege_id}", response_model=PrivilegeOut, responses=NOT_FOUND)
async def update_privilege(
    privilege_id: str, body: PrivilegeUpdate, caller: MemberDep, session: DbSession
) -> PrivilegeOut:
    row = await records.update_privilege(session, caller, privilege_id, body)
    return records.privilege_out(row, caller)


@privileges.delete("/{privilege_id}", response_model=Success, responses=NOT_FOUND)
async def delete_privilege(privilege_id: str, caller: MemberDep, session: DbSession) -> Success:
    await records.delete_privilege(session, caller, privilege_id)
    return Success()


# --- rules --------------------------------------------------------------------------------------


@rules.get("", response_model=list[RuleOut])
async def list_rules(caller: MemberDep, session: DbSession) -> list[RuleOut]:
    rows = await records.active_rules(session, caller)
    return [RuleOut.model_validate(r) for r in rows]


@rules.get("/{rule_id}", response_model=RuleOut, responses=NOT_FOUND)
async def get_rule(rule_id: str, caller: MemberDep, session: DbSession) -> RuleOut:
    return RuleOut.model_validate(await records.get_rule(session, caller, rule_id))


@rules.post("", response_model=RuleOut, status_code=status.HTTP_201_CREATED)
async def create_rule(body: RuleCreate, caller: MemberDep, session: DbSession) -> RuleOut:
    return RuleOut.model_validate(await records.create_rule(session, caller, body))


@rules.put("/{rule_id}", response_model=RuleOut, responses=NOT_FOUND)
async def update_rule(
    rule_id: str, body: RuleUpdate, caller: MemberDep, session: DbSession
) -> RuleOut:
    return RuleOut.model_validate(await records.update_rule(session, caller, rule_id, body))


@rules.delete("/{rule_id}", response_model=RuleDeleted, responses=NOT_FOUND)
async def delete_rule(rule_id: str, caller: MemberDep, session: DbSession) -> RuleDeleted:
    rule = await records.deactivate_rule(session, caller, rule_id)
    return RuleDeleted(message="Rule deactivated successfully", rule_id=rule.id)


# --- rule violations ----------------------------------------------------------------------------


@violations.get("", response_model=list[ViolationOut])
async def list_violations(caller: MemberDep, session: DbSession) -> list[ViolationOut]:
    rows = await records.violations(session, caller, everyone=True)
    return [records.violation_out(v, caller) for v in rows]


@violations.get("/calendar", response_model=list[ViolationOut])
async def violations_calendar(caller: MemberDep, session: DbSession) -> list[ViolationOut]:
    rows = await records.violations(session, caller)
    return [records.violation_out(v, caller) for v in rows]


@violations.get(
    "/calendar/range", response_model=list[ViolationOut], responses=error_responses(400)
)
async def violations_range(
    caller: MemberDep, session: DbSession, span: DayRangeDep
) -> list[ViolationOut]:
    rows = await records.violations(session, caller, start=span.start, end=span.end)
    return [records.violation_out(v, caller) for v in rows]


@violations.get("/child/{child_id}", response_model=list[ViolationOut], responses=NOT_FOUND)
async def violations_of_child(
    child_id: str, caller: MemberDep, session: DbSession
) -> list[ViolationOut]:
    rows = await records.violations(session, caller, child_id=child_id)
    return [records.violation_out(v, caller) for v in rows]


@violations.get("/date/{day}", response_model=list[ViolationOut], responses=error_responses(400))
async def violations_on(day: str, caller: MemberDep, session: DbSession) -> list[ViolationOut]:
    when = parse_day(day)
    rows = await records.violations(session, caller, start=when, end=when, everyone=True)
    return [records.violation_out(v, caller) for v in rows]


@violations.post(
    "",
    response_model=ViolationOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 404),
)
async def report_violation(
    body: ViolationCreate, caller: MemberDep, session: DbSession
) -> ViolationOut:
    return records.violation_out(await records.report_violation(session, caller, body), caller)


@violations.delete("/{violation_id}", response_model=Success, responses=NOT_FOUND)
async def delete_violation(violation_id: str, caller: MemberDep, session: DbSession) -> Success:
    await records.delete_violation(session, caller, violation_id)
    return Success()


# --- contracts -----------------------------------------------------------------------------------


@contracts.get("", response_model=list[ContractOut])
async def list_contracts(caller: MemberDep, session: DbSession) -> list[ContractOut]:
    return await records.contract_outs(session, await records.contracts_of(session, caller, None))


@contracts.get("/child/{child_id}", response_model=list[ContractOut], responses=NOT_FOUND)
async def contracts_of_child(
    child_id: str, caller: MemberDep, session: DbSession
) -> list[ContractOut]:
    rows = await records.contracts_of(session, caller, child_id)
    return await records.contract_outs(session, rows)


@contracts.get("/{contract_id}", response_model=ContractOut, responses=NOT_FOUND)
async def get_contract(contract_id: str, caller: MemberDep, session: DbSession) -> ContractOut:
    row = await records.get_contract(session, caller, contract_id)
    return (await records.contract_outs(session, [row]))[0]


@contracts.post(
    "",
    response_model=ContractOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 404, 422),
)
async def create_contract(
    body: ContractCreate, caller: MemberDep, session: DbSession
) -> ContractOut:
    row = await records.create_contract(session, caller, body)
    return (await records.contract_outs(session, [row]))[0]


@contracts.put(
    "/{contract_id}", response_model=ContractOut, responses=error_responses(400, 404, 422)
)
async def update_contract(
    contract_id: str, body: ContractUpdate, caller: MemberDep, session: DbSession
) -> ContractOut:
    row = await records.update_contract(session, caller, contract_id, body)
    return (await records.contract_outs(session, [row]))[0]


@contracts.put("/{contract_id}/deactivate", response_model=ContractOut, responses=NOT_FOUND)
async def deactivate_contract(
    contract_id: str, caller: MemberDep, session: DbSession
) -> ContractOut:
    row = await records.deactivate_contract(session, caller, contract_id)
    return (await records.contract_outs(session, [row]))[0]


@contracts.delete("/{contract_id}", response_model=ContractDeleted, responses=NOT_FOUND)
async def delete_contract(
    contract_id: str, caller: MemberDep, session: DbSession
) -> ContractDeleted:
    await records.delete_contract(session, caller, contract_id)
    return ContractDeleted(message="Contract deleted successfully", contract_id=contract_id)
