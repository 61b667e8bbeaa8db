# expect: pass
class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 64)
        self.bn = nn.BatchNorm1d(64)
        self.fc2 = nn.Linear(64, 1)

    def forward(self, x):
        h = self.bn(self.fc1(x))
        h = torch.maximum(h, torch.zeros_like(h))
        return torch.sigmoid(self.fc2(h))
