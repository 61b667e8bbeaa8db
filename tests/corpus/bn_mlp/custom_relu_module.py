# expect: pass
class MyReLU(nn.Module):
    def forward(self, x):
        return x.clamp_min(0)


class MyBatchNorm(nn.BatchNorm1d):
    """A subclass of nn.BatchNorm1d is a BatchNorm1d."""


class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 64), MyBatchNorm(64), MyReLU(), nn.Linear(64, 1))

    def forward(self, x):
        return torch.special.expit(self.net(x))
