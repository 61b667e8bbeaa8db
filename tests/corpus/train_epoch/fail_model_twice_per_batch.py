# expect: fail: exactly once per batch
def train_epoch(model, loader, optimizer, loss_fn):
    model.train()
    total, correct = 0.0, 0
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total += loss.item()
        correct += int(((model(inputs) > 0.5).float() == targets).sum())   # a second forward
    return total / len(loader)
