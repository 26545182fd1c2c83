"""Measured boot: event logs replayed into the PCR / RTMR values they imply (:mod:`efitables.measured.replay`)."""

from efitables.measured.replay import MeasuredBoot, Replay, measured_boot, replay_log

__all__ = ["MeasuredBoot", "Replay", "measured_boot", "replay_log"]
