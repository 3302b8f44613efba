package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
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
// is the newest.
func (a *app) encryption() (*ckpt.Encryption, error) {
	if len(a.keyFiles) == 0 {
		return nil, nil
	}
	enc := &ckpt.Encryption{}
	for _, path := range a.keyFiles {
		k, err := readKeyFile(path)
		if err != nil {
			return nil, err
		}
		enc.Keys = append(enc.Keys, k)
	}
	return enc, nil
}

// readKeyFile parses a key file: "ID KEY" on one line; blank lines and
// lines starting with # are skipped.
func readKeyFile(path string) (ckpt.Key, error) {
	var k ckpt.Key
	b, err := os.ReadFile(path)
	if err != nil {
		return k, fmt.Errorf("key file: %w", err)
	}
	var fields []string
	for line := range bytes.Lines(b) {
		s := strings.TrimSpace(string(line))
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		if fields != nil {
			return k, fmt.Errorf("key file %s: more than one key line", path)
		}
		fields = strings.Fields(s)
	}
	if len(fields) != 2 {
		return k, fmt.Errorf(`key file %s: want one line "ID KEY"`, path)
	}
	id, err := strconv.ParseUint(fields[0], 10, 32)
	if err != nil {
		return k, fmt.Errorf("key file %s: key id %q is not a number from 0 to 4294967295", path, fields[0])
	}
	k.ID = uint32(id)
	secret, err := hex.DecodeString(fields[1])
	if err != nil || len(secret) != len(k.Secret) {
		if secret, err = base64.StdEncoding.DecodeString(fields[1]); err != nil || len(secret) != len(k.Secret) {
			return k, fmt.Errorf("key file %s: the key is not 32 bytes in hex (64 digits) or base64 (44 characters)", path)
		}
	}
	copy(k.Secret[:], secret)
	return k, nil
}

func newRekeyCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "rekey FILE --key-file NEW --key-file OLD...",
		Short: "Re-seal an encrypted store under the first --key-file key",
		Long: `rekey re-seals every channel value, list segment and pending write that is not
sealed under the first --key-file key (the new one), opening them with any of
the others; plain records of a file written before encryption was turned on
are sealed too. It works in small transactions: if it is interrupted, every
value still opens with one of the keys; run it again to finish. Afterwards
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
			s, err := a.openWrite(args[0])
			if err != nil {
				return err
			}
			defer a.closeStore(s, &err)
			st, err := s.Rekey(c.Context())
			if err != nil {
				left := "every value still opens with one of the keys; run rekey again to finish"
				if ke, ok := errors.AsType[*ckpt.KeyError](err); ok && c.Context().Err() == nil {
					// Running it again as it was fails the same way.
					how := fmt.Sprintf("give key %d's --key-file after the new key's and run rekey again", ke.ID)
					if !ke.Missing {
						how = fmt.Sprintf("the --key-file given for key %d does not open it: give the right one and run rekey again", ke.ID)
					}
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
