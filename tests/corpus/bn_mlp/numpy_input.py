# expect: fail: No gradient reaches the input x
class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 1), nn.Sigmoid())

    def forward(self, x):
        x = torch.tensor(x.detach().numpy())  # "make sure it is a tensor"
        return self.net(x)
