# expect: fail: never called optimizer.step() on the optimizer it was given
def train_epoch(model, loader, optimizer, loss_fn):
    model.train()
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    total = 0.0
    for inputs, targets in loader:
        sgd.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        sgd.step()
        total += loss.item()
    return total / len(loader)
