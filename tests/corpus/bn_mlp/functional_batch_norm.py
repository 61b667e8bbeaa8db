# expect: fail: You call F.batch_norm directly
class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 64)
        self.fc2 = nn.Linear(64, 1)

    def forward(self, x):
        h = F.batch_norm(self.fc1(x), None, None, training=True)
        return torch.sigmoid(self.fc2(F.relu(h)))
