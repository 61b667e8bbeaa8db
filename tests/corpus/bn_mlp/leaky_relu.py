# expect: fail: the exercise asks for Linear(20, 64) -> BatchNorm1d(64) -> ReLU -> Linear(64, 1) -> Sigmoid
class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 64), nn.BatchNorm1d(64), nn.LeakyReLU(0.01), nn.Linear(64, 1),
                                 nn.Sigmoid())

    def forward(self, x):
        return self.net(x)
