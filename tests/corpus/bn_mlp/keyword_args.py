# expect: pass
class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(in_features=20, out_features=64)
        self.batchnorm = nn.BatchNorm1d(num_features=64, eps=1e-5, momentum=0.1)
        self.activation = nn.ReLU()
        self.output = nn.Linear(in_features=64, out_features=1)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        return self.sigmoid(self.output(self.activation(self.batchnorm(self.hidden(x)))))
