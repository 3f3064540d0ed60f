"""The family module's expected failures. Another family's ids are 404 (they do not exist for
the caller); a member without the role is 403 with the seed's texts."""

from __future__ import annotations

from tessera.core.errors import BadRequest, Conflict, Forbidden, NotFound


class NotAMember(Forbidden):
    code = "not_a_family_member"
    detail = "You are not a member of a family"


class ParentRequired(Forbidden):
    code = "parent_required"
    detail = "Parent role required"


class NotAuthorized(Forbidden):
    code = "not_authorized"
    detail = "Not authorized"


class FamilyNotFound(NotFound):
    code = "family_not_found"
    detail = "Family not found"


class MemberNotFound(NotFound):
    code = "member_not_found"
    detail = "User not found"


class ChildNotFound(NotFound):
    code = "child_not_found"
    detail = "Child not found"


class TaskNotFound(NotFound):
    code = "task_not_found"
    detail = "Task not found"


class PrivilegeNotFound(NotFound):
    code = "privilege_not_found"
    detail = "Privilege not found"


class RuleNotFound(NotFound):
    code = "rule_not_found"
    detail = "Rule not found"


class ViolationNotFound(NotFound):
    code = "violation_not_found"
    detail = "Rule violation not found"


class ExcusedDayNotFound(NotFound):
    code = "excused_day_not_found"
    detail = "Excused day not found"


class ContractNotFound(NotFound):
    code = "contract_not_found"
    detail = "Contract not found"


class InvitationNotFound(NotFound):
    code = "invitation_not_found"
    detail = "Invitation not found"


class FeedNotFound(NotFound):
    code = "feed_not_found"
    detail = "Calendar feed not found"


class FamilyWalletNotFound(NotFound):
    code = "wallet_not_found"
    detail = "Wallet not found"


class AlreadyInFamily(Conflict):
    code = "already_in_family"
    detail = "This account already belongs to a family"


class AlreadyInvited(Conflict):
    code = "already_invited"
    detail = "This e-mail is already invited to another family"


class InvalidRules(BadRequest):
    code = "invalid_rules"
    detail = "One or more rule IDs are invalid or inactive"


class InvalidAmount(BadRequest):
    code = "invalid_amount"
    detail = "Invalid amount"


class InvalidDate(BadRequest):
    code = "invalid_date"
    detail = "Invalid date format"


class InvalidRange(BadRequest):
    code = "invalid_range"
    detail = "start_date must be before or equal to end_date"


class InvalidMonth(BadRequest):
    code = "invalid_month"
    detail = "Invalid month format. Use YYYY-MM"


class InvalidRecurrence(BadRequest):
    code = "invalid_recurrence"
    detail = "Invalid recurrence"


class InvalidContract(BadRequest):
    code = "invalid_contract"
    detail = "Invalid contract"


class InvalidReprocessRange(BadRequest):
    code = "invalid_reprocess_range"
    detail = "Invalid date range"


class InvalidTaskState(BadRequest):
    code = "invalid_task_state"
    detail = "The task is not waiting for approval"


class InvalidTimezone(BadRequest):
    code = "invalid_timezone"
    detail = "Unknown IANA time zone"
