"""record(): spikes and membranes of every spiking layer of a real snnTorch model, time-major."""

from __future__ import annotations

import snntorch as snn  # the framework under test must be installed: no importorskip
import torch
from torch import nn

from snninit_plugins.plugins import get_adapters
from snninit_plugins.recording import record


class Tutorial(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc, self.lif = nn.Linear(10, 20), snn.Leaky(0.9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mem, out = self.lif.reset_mem(), []
        for t in range(x.shape[0]):
            spk, mem = self.lif(self.fc(x[t]), mem)
            out.append(spk)
        return torch.stack(out)


def test_per_step_and_custom_loop_models_give_the_same_time_major_record() -> None:
    torch.manual_seed(0)
    tutorial = Tutorial()
    stepped = nn.Sequential(nn.Linear(10, 20), snn.Leaky(0.9, init_hidden=True))
    stepped[0].load_state_dict(tutorial.fc.state_dict())
    x = (torch.rand(7, 3, 10, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    adapter = get_adapters()["snntorch"]
    a, b = record(tutorial, adapter, x), record(stepped, adapter, x)
    assert a.spikes["lif"].shape == b.spikes["1"].shape == (7, 3, 20)
    assert torch.equal(a.spikes["lif"], b.spikes["1"]) and a.spikes["lif"].sum() > 0
    assert torch.allclose(a.membrane["lif"], b.membrane["1"])
    assert torch.equal(a.spikes["lif"], tutorial(x))  # the record is what the model computes
