# expect: fail: No gradient reaches your BatchNorm1d(64)
class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 1), nn.Sigmoid())
        for parameter in self.net[1].parameters():
            parameter.requires_grad_(False)  # "gamma and beta are fine as they are"

    def forward(self, x):
        return self.net(x)
