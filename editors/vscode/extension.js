// The netc extension's client: starts `netc lsp` (netc's language server) over stdio for .net files.
// Highlighting needs none of this (syntaxes/netc.tmLanguage.json); the server adds diagnostics,
// hover, go to definition, symbols and completion. Settings: netc.path, netc.args, netc.trace.server.
'use strict';

const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

let client = null;

function serverOptions() {
  const config = vscode.workspace.getConfiguration('netc');
  const command = config.get('path') || 'netc';
  const args = [...(config.get('args') || []), 'lsp'];
  return { command, args, transport: TransportKind.stdio };
}

async function start(context) {
  const clientOptions = {
    documentSelector: [
      { scheme: 'file', language: 'netc' },
      { scheme: 'untitled', language: 'netc' },
    ],
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher('**/*.net') },
  };
  client = new LanguageClient('netc', 'netc', serverOptions(), clientOptions);
  try {
    await client.start();
  } catch (err) {
    const command = serverOptions().command;
    vscode.window.showErrorMessage(
      `netc: could not start the language server with '${command} lsp' (${err.message || err}). ` +
        'Install netc (pip install -e . in its repository) or set "netc.path" to its netc program.'
    );
  }
}

async function stop() {
  if (client) {
    const running = client;
    client = null;
    await running.stop().catch(() => undefined);
  }
}

async function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand('netc.restartServer', async () => {
      await stop();
      await start(context);
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration('netc.path') || event.affectsConfiguration('netc.args')) {
        await stop();
        await start(context);
      }
    })
  );
  await start(context);
}

function deactivate() {
  return stop();
}

module.exports = { activate, deactivate };
