# expect: pass
def train_epoch(model, loader, optimizer, loss_fn):
    # Train, then leave the model ready for evaluation: the contract does not fix the mode after.
    model.train()
    total, batches = 0.0, 0
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total += loss.item()
        batches += 1
    model.eval()
    return total / batches
