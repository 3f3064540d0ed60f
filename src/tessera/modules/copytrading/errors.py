"""The module's expected failures: each an `AppError` with a stable code (never a 500).
Messages the seed's web client shows are kept word for word."""

from __future__ import annotations

from tessera.core.errors import AppError, BadRequest, Conflict, Forbidden, NotFound, Unauthorized


class MasterNotFound(NotFound):
    code = "master_not_found"
    detail = "Master trader not found"


class NotAMaster(NotFound):
    code = "master_profile_not_found"
    detail = "Master profile not found"


class MastersOnly(Forbidden):
    code = "master_required"
    detail = "Only master traders can do that"


class SelfSubscription(BadRequest):
    code = "self_subscription"
    detail = "You cannot subscribe to yourself"


class ActiveSubscriptionExists(BadRequest):
    code = "active_subscription_exists"
    detail = "Active subscription already exists"


class SubscriptionNotFound(NotFound):
    code = "subscription_not_found"
    detail = "Subscription not found"


class ActiveSubscriptionNotFound(NotFound):
    code = "active_subscription_not_found"
    detail = "Active subscription not found"


class NotUserResumable(Conflict):
    code = "not_user_resumable"
    detail = "Paused subscription not found"


class InvalidTransition(Conflict):
    code = "invalid_state_transition"
    detail = "The subscription's state does not allow that"


class LicenseMissing(Unauthorized):
    code = "license_token_missing"
    detail = "X-License-Token header required"


class LicenseInvalid(Unauthorized):
    code = "license_token_invalid"
    detail = "Invalid or revoked license token"


class WrongLicenseKind(Forbidden):
    code = "license_kind_forbidden"
    detail = "This license may not do that"


class BadSignature(Unauthorized):
    code = "invalid_signature"
    detail = "Signal signature does not match"


class SequenceNotIncreasing(Conflict):
    code = "sequence_not_increasing"
    detail = "sequence_number must be greater than the last published sequence"


class ResultConflict(Conflict):
    code = "result_already_reported"
    detail = "A different result was already reported for this period"


class PolicyInvalid(AppError):
    status_code = 422
    code = "invalid_policy"
    detail = "Invalid risk policy"
