"""Rate predictors (theory.md section 4).

Each predictor is a function ``predictor(neuron, drive, *, n_steps=None, ...) -> RatePrediction``:
``neuron`` a :class:`~snninit_plugins.neuron.CanonicalNeuron`, ``drive`` a
:class:`~snninit_plugins.inputs.SynapticInput`, ``n_steps`` the window T from V0 or ``None`` for the
stationary rate. All average over the quenched spread of per-neuron drift and say when they are
outside their regime. :data:`PREDICTORS` maps their public names to them.
"""

from ._result import MembraneDistribution, RatePrediction, quenched_average
from .density import density
from .diffusion import diffusion, siegert_interval
from .gain import jacobian_radius, layer_gain, layer_jacobian
from .random_walk import OVERSHOOT, random_walk
from .shot_noise import shot_noise
from .wiener import escape_probability, first_passage_cdf, wiener

#: Public name -> predictor function.
PREDICTORS = {
    "random_walk": random_walk,
    "wiener": wiener,
    "diffusion": diffusion,
    "shot_noise": shot_noise,
    "density": density,
}

__all__ = [
    "OVERSHOOT",
    "PREDICTORS",
    "MembraneDistribution",
    "RatePrediction",
    "density",
    "diffusion",
    "escape_probability",
    "first_passage_cdf",
    "jacobian_radius",
    "layer_gain",
    "layer_jacobian",
    "quenched_average",
    "random_walk",
    "shot_noise",
    "siegert_interval",
    "wiener",
]
