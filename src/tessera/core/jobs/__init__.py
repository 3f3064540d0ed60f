"""Scheduled jobs that run exactly once per period across any number of replicas."""

from tessera.core.jobs.scheduler import Job, JobContext, Scheduler, period_key

__all__ = ["Job", "JobContext", "Scheduler", "period_key"]
