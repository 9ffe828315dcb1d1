"""``apply_init`` on the snnTorch tutorial's conv net, written the tutorial way (a custom time loop).

The network is tutorial 7's ``Net``: ``Conv2d(1, 12, 5) -> max-pool 2 -> Leaky -> Conv2d(12, 64, 5) -> max-pool 2
-> Leaky -> Linear(64*4*4, 10) -> Leaky``, with ``Leaky(init_hidden=False)``, the states passed explicitly and
the loop over time steps inside ``forward``, which returns every layer's spikes. The input is 28x28 Bernoulli
spikes at 0.1 per step (no data set is downloaded). ``apply_init`` gets the whole ``[T, B, 1, 28, 28]`` input as
``sample=``: the input statistics come from it, and the layers are paired in the order ``forward`` calls them.

The script measures the net with ``diagnose`` before and after ``apply_init`` (one call on the whole input, as
its ``forward`` expects: the hooks on the ``Leaky`` modules stack their per-step outputs). It prints the report,
then each spiking layer's rate before, planned and after, its silent fraction, synchrony and verdict after.

Run: ``python examples/snntorch_convnet.py`` (CPU, a few seconds).
"""

from __future__ import annotations

import snntorch as snn
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from snninit_plugins import apply_init, diagnose
from snninit_plugins.diagnosis import compare
from snninit_plugins.simulator import bernoulli_spikes

T, BATCH, INPUT_RATE = 25, 32, 0.1


class Net(nn.Module):
    def __init__(self, beta: float = 0.9) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 12, 5)
        self.lif1 = snn.Leaky(beta=beta)
        self.conv2 = nn.Conv2d(12, 64, 5)
        self.lif2 = snn.Leaky(beta=beta)
        self.fc1 = nn.Linear(64 * 4 * 4, 10)
        self.lif3 = snn.Leaky(beta=beta)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: [T, B, 1, 28, 28] -> the spikes of lif1, lif2, lif3, each [T, B, ...]."""
        mem1, mem2, mem3 = self.lif1.reset_mem(), self.lif2.reset_mem(), self.lif3.reset_mem()
        spk1_rec, spk2_rec, spk3_rec = [], [], []
        for step in range(x.shape[0]):
            cur1 = F.max_pool2d(self.conv1(x[step]), 2)
            spk1, mem1 = self.lif1(cur1, mem1)
            cur2 = F.max_pool2d(self.conv2(spk1), 2)
            spk2, mem2 = self.lif2(cur2, mem2)
            cur3 = self.fc1(spk2.flatten(1))
            spk3, mem3 = self.lif3(cur3, mem3)
            spk1_rec.append(spk1)
            spk2_rec.append(spk2)
            spk3_rec.append(spk3)
        return torch.stack(spk1_rec), torch.stack(spk2_rec), torch.stack(spk3_rec)


def main() -> None:
    torch.set_num_threads(1)  # small ops: one thread is faster
    torch.manual_seed(0)
    net = Net()
    x = bernoulli_spikes(INPUT_RATE, T, (BATCH, 1, 28, 28), generator=torch.Generator().manual_seed(1))

    before = diagnose(net, x, framework="snntorch")
    report = apply_init(net, framework="snntorch", sample=x, T=T, generator=torch.Generator().manual_seed(0))
    print(report, end="\n\n")
    after = diagnose(net, x, framework="snntorch", report=report)

    print(compare(before, after))


if __name__ == "__main__":
    main()
