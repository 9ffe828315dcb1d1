"""Exception types of snninit-plugins. Every error the package raises derives from :class:`SnnInitError`."""

from __future__ import annotations


class SnnInitError(Exception):
    """Root of every error raised by snninit-plugins."""


class NeuronSpecError(SnnInitError, ValueError):
    """A canonical neuron was described with impossible parameters."""


class InputSpecError(SnnInitError, ValueError):
    """Input or weight statistics are impossible (negative variance, rate outside [0, 1], fan-in 0...)."""


class InfeasibleTargetError(SnnInitError, ValueError):
    """A requested firing rate cannot be reached; the message names the layer, the numbers and what to change."""


class StrategyOptionError(SnnInitError, TypeError):
    """A strategy was given an option it does not take; the message lists the ones it does."""
