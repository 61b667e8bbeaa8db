# expect: fail: in the loader's order
def train_epoch(model, loader, optimizer, loss_fn):
    model.train()
    total = 0.0
    batches = list(loader)
    for inputs, targets in reversed(batches):
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / len(batches)
