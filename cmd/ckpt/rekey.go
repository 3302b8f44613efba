package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/ckpt-go/ckpt"
	"github.com/spf13/cobra"
)

func init() { register(newRekeyCmd) }

// keyFileHelp describes --key-file (a persistent flag of every command).
const keyFileHelp = `key file of an encrypted store (repeatable; the first seals, all open).
A key file holds one line "ID KEY": ID a number (0 to 4294967295), KEY the
32-byte AES-256 key as 64 hex digits or standard base64 (44 characters)`

// encryption reads the --key-file files, in the order given: the first key
// is the newest. A file missing, unreadable or malformed, or two holding
// one id, is a usage mistake (the command line names them): exit 2.
func (a *app) encryption() (*ckpt.Encryption, error) {
	if len(a.keyFiles) == 0 {
		return nil, nil
	}
	enc := &ckpt.Encryption{}
	a.keyFileOf = map[uint32]string{}
	for _, path := range a.keyFiles {
		k, err := readKeyFile(path)
		if err != nil {
			return nil, usageError{fmt.Sprintf("--key-file %s: %v", path, err)}
		}
		if other, dup := a.keyFileOf[k.ID]; dup {
			// The library would say "Options.Encryption lists key id 1
			// twice", naming neither file.
			return nil, usageError{fmt.Sprintf("--key-file %s: key id %d is --key-file %s's too (each key needs its own id)", path, k.ID, other)}
		}
		a.keyFileOf[k.ID] = path
		enc.Keys = append(enc.Keys, k)
	}
	return enc, nil
}

// readKeyFile parses a key file: "ID KEY" on one line; blank lines and
// lines starting with # are skipped. Its errors say what is wrong with
// the file, for the caller to name it.
func readKeyFile(path string) (ckpt.Key, error) {
	var k ckpt.Key
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return k, errors.New("no such file")
	}
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return k, pe.Err // the path is the caller's to name, once
	}
	if err != nil {
		return k, err
	}
	var fields []string
	for line := range bytes.Lines(b) {
		s := strings.TrimSpace(string(line))
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		if fields != nil {
			return k, errors.New(`more than one key line (want one line "ID KEY")`)
		}
		fields = strings.Fields(s)
	}
	if len(fields) != 2 {
		return k, errors.New(`want one line "ID KEY"`)
	}
	id, err := strconv.ParseUint(fields[0], 10, 32)
	if err != nil {
		return k, fmt.Errorf("key id %q is not a number from 0 to 4294967295", fields[0])
	}
	k.ID = uint32(id)
	secret, err := hex.DecodeString(fields[1])
	if err != nil || len(secret) != len(k.Secret) {
		if secret, err = base64.StdEncoding.DecodeString(fields[1]); err != nil || len(secret) != len(k.Secret) {
			return k, errors.New("the key is not 32 bytes in hex (64 digits) or base64 (44 characters)")
		}
	}
	copy(k.Secret[:], secret)
	return k, nil
}

// wrongKey says, for a key the store's records do not open (a
// *ckpt.KeyError, not Missing), which --key-file holds it.
func (a *app) wrongKey(err error) string {
	ke, ok := errors.AsType[*ckpt.KeyError](err)
	if !ok || ke.Missing || a.keyFileOf[ke.ID] == "" {
		return ""
	}
	return fmt.Sprintf("--key-file %s holds key %d, and it does not open this store's records: a wrong key for this store, give the one it was sealed with", a.keyFileOf[ke.ID], ke.ID)
}

func newRekeyCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "rekey FILE --key-file NEW --key-file OLD...",
		Short: "Re-seal an encrypted store under the first --key-file key",
		Long: `rekey re-seals every channel value, list segment and pending write that is not
sealed under the first --key-file key (the new one), opening them with any of
the others; plain records of a file written before encryption was turned on
are sealed too. It works in small transactions: if it is interrupted, every
value still opens with one of the keys; run it again to finish. An old key
missing or wrong is found before anything is written (FILE is left
byte-identical), and the line names its --key-file. Afterwards
the old keys are no longer needed (run compact too, so no old page holding
data sealed under them stays in the file's free space).`,
		Args: argsBetween(1, 1),
		RunE: func(c *cobra.Command, args []string) (err error) {
			if len(a.keyFiles) == 0 {
				return usageError{"rekey needs --key-file NEW (then every old key's --key-file)"}
			}
			if err := checkFile(args[0]); err != nil {
				return err
			}
			// The keys are tried read-only first: a read-write open writes
			// to the file, and a rekey refused for a wrong or missing key
			// leaves it byte-identical.
			if err := a.rekeyLooks(c.Context(), args[0]); err != nil {
				return err
			}
			s, err := a.openWrite(args[0])
			if err != nil {
				return err
			}
			defer a.closeStore(s, &err)
			st, err := s.Rekey(c.Context())
			if err != nil {
				left := "every value still opens with one of the keys; run rekey again to finish"
				if how := a.rekeyHow(err); how != "" && c.Context().Err() == nil {
					left = "every value still opens with one of the keys; " + how
				}
				return withLeft(c.Context(), err, left)
			}
			if a.asJSON {
				return a.printJSON(struct {
					File     string `json:"file"`
					Resealed int64  `json:"resealed"`
				}{args[0], st.Resealed})
			}
			_, err = fmt.Fprintf(a.out, "rekeyed %s: %d records re-sealed\n", args[0], st.Resealed)
			return err
		},
	}
	a.addJSON(c)
	return c
}

// rekeyHow says, for a key error of a rekey (a *ckpt.KeyError), what to
// give instead: running it again as it was fails the same way.
func (a *app) rekeyHow(err error) string {
	ke, ok := errors.AsType[*ckpt.KeyError](err)
	if !ok {
		return ""
	}
	if ke.Missing {
		return fmt.Sprintf("give key %d's --key-file after the new key's and run rekey again", ke.ID)
	}
	return fmt.Sprintf("the --key-file given for key %d (%s) does not open it: give the right one and run rekey again", ke.ID, a.keyFileOf[ke.ID])
}

// rekeyLooks tries, read-only, the keys a rekey of file opens records
// with (Store.CheckRekey).
func (a *app) rekeyLooks(ctx context.Context, file string) (err error) {
	s, err := a.openRead(file)
	if err != nil {
		return err
	}
	defer a.closeStore(s, &err)
	err = s.CheckRekey(ctx)
	if how := a.rekeyHow(err); how != "" {
		return fmt.Errorf("%w; nothing re-sealed, %s left as it was; %s", err, file, how)
	}
	return withLeft(ctx, err, "nothing re-sealed, "+file+" left as it was")
}
