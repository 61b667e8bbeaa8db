# expect: fail: BatchNorm1d comes after the ReLU: move it between the Linear layer and the activation
class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.BatchNorm1d(64), nn.Linear(64, 1), nn.Sigmoid())

    def forward(self, x):
        return self.net(x)
