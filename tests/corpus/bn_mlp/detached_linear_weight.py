# expect: fail: No gradient reaches your Linear(20, 64)'s weight
class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 64)
        self.bn = nn.BatchNorm1d(64)
        self.fc2 = nn.Linear(64, 1)

    def forward(self, x):
        h = F.linear(x, self.fc1.weight.detach(), self.fc1.bias)  # "the first layer is pretrained"
        return torch.sigmoid(self.fc2(F.relu(self.bn(h))))
