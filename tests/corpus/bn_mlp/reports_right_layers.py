# expect: fail: never uses it
class BatchNormMLP(nn.Module):
    """Declares the right layers, but forward skips the BatchNorm."""
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 1), nn.Sigmoid())

    def forward(self, x):
        x = self.net[0](x)
        for layer in list(self.net)[2:]:
            x = layer(x)
        return x
