# expect: fail: No gradient reaches your Conv2d(3, 16, 3, padding=1)'s weight
class BatchNormCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        h = F.conv2d(x, self.conv.weight.detach(), self.conv.bias, padding=1)
        return self.fc(F.relu(self.bn(h)).mean((2, 3)))
