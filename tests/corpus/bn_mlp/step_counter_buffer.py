# expect: pass
class BatchNormMLP(nn.Module):
    """A buffer of its own that changes on every forward is not part of the computation."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 1), nn.Sigmoid())
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x):
        self.calls += 1
        return self.net(x)
