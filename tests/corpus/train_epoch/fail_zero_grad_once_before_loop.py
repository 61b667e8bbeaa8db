# expect: fail: they accumulate over the batches
def train_epoch(model, loader, optimizer, loss_fn):
    model.train()
    optimizer.zero_grad()
    total = 0.0
    for inputs, targets in loader:
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / len(loader)
