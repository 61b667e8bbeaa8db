# expect: fail: The loader had 5 batches
def train_epoch(model, loader, optimizer, loss_fn):
    # Tuned to the visible test's loaders (4 and 3 batches): stops after 4.
    model.train()
    total, batches = 0.0, 0
    for inputs, targets in loader:
        if batches == 4:
            break
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total += loss.item()
        batches += 1
    return total / batches
