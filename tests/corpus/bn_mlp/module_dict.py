# expect: pass
class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleDict({
            "linear1": nn.Linear(20, 64),
            "bn": nn.BatchNorm1d(64),
            "linear2": nn.Linear(64, 1),
        })

    def forward(self, x):
        h = self.layers["bn"](self.layers["linear1"](x))
        return torch.sigmoid(self.layers["linear2"](torch.relu(h)))
