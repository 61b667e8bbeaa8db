# expect: pass
class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 64, bias=False)
        self.bn = nn.BatchNorm1d(64)
        self.fc2 = nn.Linear(64, 1)

    def forward(self, x):
        h = self.bn(self.fc1(x))
        h = torch.where(h > 0, h, torch.zeros_like(h))
        return 1 / (1 + torch.exp(-self.fc2(h)))
