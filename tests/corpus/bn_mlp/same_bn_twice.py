# expect: fail: normalizes 2 times
class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 64)
        self.bn = nn.BatchNorm1d(64)
        self.fc2 = nn.Linear(64, 1)

    def forward(self, x):
        return torch.sigmoid(self.fc2(F.relu(self.bn(self.bn(self.fc1(x))))))
