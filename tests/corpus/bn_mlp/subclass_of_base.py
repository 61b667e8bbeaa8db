# expect: pass
class TwoLayer(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.fc1 = nn.Linear(20, hidden)
        self.fc2 = nn.Linear(hidden, 1)

    def forward(self, x):
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(x))))


class BatchNormMLP(TwoLayer):
    def __init__(self):
        super().__init__(hidden=64)
        self.bn = nn.BatchNorm1d(64)

    def forward(self, x):
        return torch.sigmoid(self.fc2(torch.relu(self.bn(self.fc1(x)))))
